"""What the server-database engines (PostgreSQL, MySQL/MariaDB) share: dumps made with the engine's own
client tools, the password in a private file (never argv, never the command line a `ps` shows), the
manifest, verification before a restore, a safety dump before it."""
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from ..errors import ServerError
from ..files import sha256_of
from ..manifests import backup_name, publish_backup, remember_read_back
from .base import Engine
from .pipes import END_FRAME, STREAM_MARKER, write_all
from .toolenv import tool_env

PACKAGES = {  # what to install when a client tool is missing, by package manager
    "postgresql": "apt-get install -y postgresql-client (Debian/Ubuntu) or dnf install -y postgresql (Fedora/RHEL)",
    "mysql": "apt-get install -y default-mysql-client (Debian/Ubuntu; or mariadb-client) or dnf install -y mariadb",
}


def find_tool(vendor, name, *alternatives):
    """Absolute path of a client tool on PATH, or a one-line error naming the package that has it."""
    for candidate in (name,) + alternatives:
        found = shutil.which(candidate)
        if found:
            return found
    raise ServerError("%s not found on %s (PATH=%s): install the %s client tools there: %s" % (
        name, os.uname().nodename, os.environ.get("PATH", ""), vendor, PACKAGES[vendor]))


def private_tempfile(prefix, content):
    """A new file only this user can read (mkstemp: mode 0600) holding `content`; the caller deletes it."""
    fd, path = tempfile.mkstemp(prefix=prefix)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    return path


def error_line(text, tool):
    """The line of a client tool's stderr that says what went wrong (with the detail line after it, if any)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if re.search(r"\b(error|fatal|ERROR|FATAL)\b", line)]
    index = errors[0] if errors else 0
    chosen = lines[index:index + 1] or ["exit status without a message"]
    if index + 1 < len(lines) and re.match(r"^(\S+:\s*)?(detail|DETAIL):", lines[index + 1]):
        chosen.append(lines[index + 1])
    prefix = r"^(pg_dump|pg_restore|psql|mysqldump|mariadb-dump|mysql|mariadb):\s*(<stdin>:\d+:\s*)?(error:\s*)?"
    line = "; ".join(re.sub(prefix, "", part) for part in chosen)
    if "server version mismatch" in line:
        line += " (install the client tools of the server's major version, e.g. postgresql-client-NN from the PGDG apt repository)"
    return re.sub(r"\s+", " ", line) or tool


@contextlib.contextmanager
def memory_file(prefix, content, names_dir):
    """The descriptor of an anonymous memory file (Linux memfd, mode 0600) holding `content` while the block runs,
    or None where there is none (no memfd, or no `names_dir` to name it through)."""
    fd = None
    if hasattr(os, "memfd_create") and os.path.isdir(names_dir):
        try:
            fd = os.memfd_create(prefix)
        except OSError:
            fd = None
    if fd is None:
        yield None
        return
    try:
        os.fchmod(fd, 0o600)  # the tools refuse a world-writable option file
        write_all(fd, content.encode())
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def secret_file(prefix, content):
    """A path the client tools read `content` (a password) from while the block runs, readable by this user only:
    an anonymous memory file (Linux memfd) named through this process's /proc entry, on no disk and gone with this
    process however it ends (killed, a temporary file would stay behind with the password); elsewhere a 0600
    temporary file removed afterwards."""
    own = "/proc/%d/fd" % os.getpid()
    with memory_file(prefix, content, own) as fd:
        if fd is not None:
            yield "%s/%d" % (own, fd)
            return
    path = private_tempfile(prefix, content)
    try:
        yield path
    finally:
        if os.path.exists(path):
            os.unlink(path)


@contextlib.contextmanager
def inherited_secret_file(prefix, content):
    """(path, fds): secret_file for a process tree that may outlive this process (a detached load): the memory
    file is passed down (fds, for Popen's pass_fds) and each process opens its own copy of the descriptor
    (/dev/fd/N), so a client that starts after this process was killed still reads it (the path through this
    process's /proc entry was gone then: the client failed to connect and the load did nothing)."""
    with memory_file(prefix, content, "/dev/fd") as fd:
        if fd is not None:
            yield "/dev/fd/%d" % fd, (fd,)
            return
    with secret_file(prefix, content) as path:
        yield path, ()


def call_tool(argv, env, stdout=None, stdin=subprocess.DEVNULL):
    """Run a client tool (argv list, no shell); returns None when it exits 0, else its error line."""
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run(argv, env=env, stdin=stdin, stdout=stdout if stdout is not None else subprocess.DEVNULL,
                              stderr=errors)
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
    return None if done.returncode == 0 else error_line(text, os.path.basename(argv[0]))


def run_tool(argv, env, what, stdout=None):
    """call_tool, failing with `what` and the tool's error line unless it exits 0."""
    problem = call_tool(argv, env, stdout)
    if problem:
        raise ServerError("%s failed: %s" % (what, problem))


def hashed_and_checked(path, check):
    """(sha256 of `path`, check(path)) computed side by side: both mostly wait on I/O or a child process."""
    digest = {}
    hasher = threading.Thread(target=lambda: digest.update(sha256=sha256_of(path)))
    hasher.start()
    try:
        problem = check(path)
    finally:
        hasher.join()
    return digest["sha256"], problem


class DumpEngine(Engine):
    """An engine whose backups are dumps made by its client tools. Subclasses: backup_suffix(), dump_tool(),
    dump_into(), verify, migrations_in, restore(path, safety), looks_like(head)."""

    rehearsal_copy = None  # (backup path, scratch database, its restore's error or None) made by backup_for_rehearsal
    trusts_read_back = False  # a restore of bytes this machine read back whole as it made them skips reading them again

    def backup_for_rehearsal(self, dest_dir, params, extra):
        """backup(), with the dump also restored into a new scratch database as it is made: the rehearsal's copy
        is ready about when the dump is, not one restore later (copy_for_rehearsal takes it)."""
        from . import scratch
        from .base import RehearsalSkipped, strictly_refused

        try:
            name = scratch.create(self, "rehearsal")
        except RehearsalSkipped as exc:  # copy_for_rehearsal says why
            if params.get("strict_migrations"):  # refused then anyway: not after a dump it would not use
                raise strictly_refused(exc) from None
            name = None
        try:
            return self.backup(dest_dir, params, extra, load_into=name)
        except BaseException:
            if name:
                scratch.drop(self, name)
            raise

    def copy_for_rehearsal(self, backup_path):
        """The copy backup_for_rehearsal made of this very backup, else one restored from its file now."""
        from . import scratch

        made, self.rehearsal_copy = self.rehearsal_copy, None
        if made is None or made[0] != backup_path:
            return scratch.copy_for_rehearsal(self, backup_path)
        _path, name, problem = made
        if problem:
            scratch.drop(self, name)
            raise ServerError("restoring the dump into the scratch database %s failed: %s" % (name, problem))
        self.copied_while_dumping = True
        return {"NAME": name}

    def drop_copy(self, copy):
        from . import scratch

        scratch.drop(self, copy["NAME"])

    def discard_rehearsal_copy(self):
        made, self.rehearsal_copy = self.rehearsal_copy, None
        if made is not None:
            self.drop_copy({"NAME": made[1]})

    def backup(self, dest_dir, params, extra, stream=None, check=True, load_into=None, **options):
        """Dump into dest_dir in one pass (dump_into): written, hashed, streamed (`stream`, after a STREAM_MARKER
        header saying its chunks are framed) and read back whole, all at once; then the manifest. load_into: a
        scratch database the dump is restored into as it is read back (backup_for_rehearsal); options: the
        engine's own (PostgreSQL: the exported snapshot a restore's safety dump reads)."""
        self.close()
        return self.dump_backup(dest_dir, params, extra, stream=stream, load_into=load_into, **options)

    def dump_backup(self, dest_dir, params, extra, stream=None, load_into=None, **options):
        """backup() without closing Django's connection first (which only its own thread may do)."""
        database = self.database
        os.makedirs(dest_dir, mode=0o700, exist_ok=True)
        name = backup_name(dest_dir, database["name"], params.get("label"), self.backup_suffix())
        final = os.path.join(dest_dir, name)
        partial = final + ".partial"
        started = time.time()
        dump_tool = self.started_tool_version()
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                if stream is not None:
                    stream.write(("\n%s%s\n" % (STREAM_MARKER, json.dumps({"file": name, "chunked": True}))).encode())
                    stream.flush()
                # Safety dumps (pre-restore, pre-deploy, pre-rollback) stand in the way of what the user asked for:
                # an engine that compresses itself compresses them lightly.
                fast = str(params.get("label") or "").startswith("pre-")
                made = self.dump_into(fd, partial, stream, fast=fast, load_into=load_into, **options)
                os.fsync(fd)  # durable before it is named a backup (its disk writes were started as it came)
            finally:
                os.close(fd)
                if stream is not None:
                    write_all(stream.fileno(), END_FRAME)
            if made["problem"]:
                raise ServerError("the new dump failed its check (%s: %s); the database is unchanged" % (
                    self.verified, made["problem"]))
            manifest = {
                **self.manifest_head(name, database, params),
                "size": made["size"],
                "sha256": made["sha256"],
                "migrations": made["migrations"],
                "verified": self.verified,
                "compression": made["compression"],
                "dump_tool": dump_tool(),
                "tool": "deploytasks " + params.get("version", "?"),
                "seconds": round(time.time() - started, 3),
            }
            if made["notice"]:
                manifest["notice"] = made["notice"]
            manifest.update(extra)
            publish_backup(partial, final, manifest)
            if self.trusts_read_back:
                remember_read_back(dest_dir, manifest["sha256"])
            if made.get("loaded_into"):
                self.rehearsal_copy = (final, made["loaded_into"], made["load_problem"])
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
        return manifest

    def backup_suffix(self):
        """The new backup's file name suffix (it says how the dump is compressed)."""
        raise NotImplementedError

    def dump_tool(self):
        """(the dump tool's path, its toolenv kind)."""
        raise NotImplementedError

    def started_tool_version(self):
        """The dump tool's `--version` started now, its answer read when the result is called: Debian's pg_dump is
        a Perl wrapper whose start-up runs beside a dump this way, not after it, before the manifest."""
        program, kind = self.dump_tool()
        process = subprocess.Popen([program, "--version"], env=tool_env(kind), stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, universal_newlines=True)
        return lambda: process.communicate()[0].strip()

    def dump_into(self, fd, path, stream, fast, load_into=None, **options):
        """Dump into the open file `fd` (at `path`) and `stream` (chunk frames), reading it back as it is written;
        returns {"sha256", "size", "problem" (the read-back's), "migrations", "compression", "notice" (or None),
        "loaded_into" (the scratch database load_into when the dump was restored into it), "load_problem"}."""
        raise NotImplementedError

    def manifest_head(self, name, database, params) -> dict:
        """The fields every dump's manifest starts with: which file, of which database, taken where and when."""
        return {
            "file": name,
            "engine": self.vendor,
            "database": database["name"],
            "db_host": database["host"] or "localhost",
            "db_port": database["port"] or None,
            "host": params.get("host") or os.uname().nodename,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def check_kind(self, path, manifest):
        from . import sniff

        vendor = self.vendor
        kind = (manifest or {}).get("engine") or sniff(path)
        if kind is None:
            raise ServerError("%s is not a %s backup (nor any other kind deploytasks makes): nothing was restored" % (path, vendor))
        if kind != vendor:
            raise ServerError("%s is %s %s backup, but the %r database is %s: restore it into a %s database" % (
                os.path.basename(path), "an" if kind[0] in "aeiosx" else "a", kind, self.database["alias"], vendor, kind))

    def check_backup(self, path, manifest, params, fingerprint):
        size = fingerprint[0]
        if manifest and manifest.get("size") is not None and size != manifest["size"]:
            raise ServerError("%s is %d bytes but its manifest says %d: the file is truncated or changed" % (
                path, size, manifest["size"]))
        with open(path, "rb") as handle:
            head = handle.read(16)
        if not self.looks_like(head):
            raise ServerError("%s is not a %s dump" % (path, self.vendor))
        received = params.get("received") or {}
        if manifest and received.get("fingerprint") == fingerprint:  # hashed as it arrived, unchanged since
            sha256, problem = received["sha256"], self.verify(path)
        elif manifest:
            sha256, problem = hashed_and_checked(path, self.verify)
        if manifest:
            if sha256 != manifest.get("sha256"):
                raise ServerError("%s does not match its manifest's sha256 (%s… vs %s…): the file is damaged or not "
                                  "the one backed up" % (path, sha256[:12], str(manifest.get("sha256"))[:12]))
        else:
            problem = self.verify(path)
        if problem:
            raise ServerError("%s is damaged: %s failed: %s" % (path, self.verified, problem))
        return False

    def restore_backup(self, path, params, deferred):
        safety = self.backup(params["safety_dest"], dict(params, label="pre-restore"),
                             {"database_alias": self.database["alias"], "reason": "safety backup before restore"})
        self.restore(path, safety["path"])
        return {"safety_backup": safety["path"]}
