"""What the server-database engines (PostgreSQL, MySQL/MariaDB) share: dumps made with the engine's own
client tools, the password in a private file (never argv, never the command line a `ps` shows), the
manifest, verification before a restore, a safety dump before it."""
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from ..errors import ServerError
from ..files import fsync_path, sha256_of
from ..manifests import backup_name, publish_backup
from .base import Engine

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
    """An engine whose backups are dumps made by its client tools. Subclasses: dump(path, fast[, load_into]),
    verify, migrations_in, restore(path, safety), tool_version(), looks_like(head)."""

    rehearsal_copy = None  # (backup path, scratch database, its restore's error or None) made by backup_for_rehearsal

    def backup_for_rehearsal(self, dest_dir, params, extra):
        """backup(), with the dump also restored into a new scratch database as it is made: the rehearsal's copy
        is ready about when the dump is, not one restore later (copy_for_rehearsal takes it)."""
        from . import scratch
        from .base import RehearsalSkipped

        try:
            name = scratch.create(self, "rehearsal")
        except RehearsalSkipped:  # copy_for_rehearsal says why
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

    def backup(self, dest_dir, params, extra, stream=None, check=True, snapshot=None, load_into=None):
        """Dump into dest_dir, verify and checksum it, write the manifest (not streamed: the client downloads it).
        snapshot: an exported snapshot the dump reads (PostgreSQL); load_into: a scratch database the dump is
        restored into as it is made (backup_for_rehearsal)."""
        database = self.database
        self.close()
        os.makedirs(dest_dir, mode=0o700, exist_ok=True)
        name = backup_name(dest_dir, database["name"], params.get("label"), self.suffix)
        final = os.path.join(dest_dir, name)
        partial = final + ".partial"
        started = time.time()
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            # Safety dumps (pre-restore, pre-deploy, pre-rollback) stand in the way of what the user asked for:
            # light compression makes them several times faster.
            fast = str(params.get("label") or "").startswith("pre-")
            loaded = self.dump(partial, fast=fast, **({"snapshot": snapshot} if snapshot else {}),
                               **({"load_into": load_into} if load_into else {}))
            flusher = threading.Thread(target=fsync_path, args=(partial,))  # durable while it is read back
            flusher.start()
            try:
                sha256, problem = hashed_and_checked(partial, self.verify)
            finally:
                flusher.join()
            if problem:
                raise ServerError("the new dump failed its check (%s: %s); the database is unchanged" % (self.verified, problem))
            manifest = {
                **self.manifest_head(name, database, params),
                "size": os.path.getsize(partial),
                "sha256": sha256,
                "migrations": self.migrations_in(partial),
                "verified": self.verified,
                "compression": "fast" if fast else "default",
                "dump_tool": self.tool_version(),
                "tool": "deploytasks " + params.get("version", "?"),
                "seconds": round(time.time() - started, 3),
            }
            manifest.update(extra)
            publish_backup(partial, final, manifest)
            if load_into:
                self.rehearsal_copy = (final, load_into, loaded)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
        return manifest

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
