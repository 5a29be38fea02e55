"""A PostgreSQL dump made in one pass: `pg_dump --format=custom --compress=0` piped through `zstd -1 -T0`
(pg_dump's own zlib is the slow part of a dump), and the compressed bytes, as they come, written to the
backup file, hashed, sent down the stream (chunk-framed: the size is not known in advance) and fed to the
verifier (`zstd -dc | pg_restore --file=/dev/null`: the whole archive read back). The manifest's django_migrations
rows are selected in the snapshot the dump reads (pg_snapshot); where that cannot be done they are kept from
pg_restore's script as it passes this process instead. Without zstd on the server, pg_dump compresses at zlib
level 1 itself."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading

from ..errors import ServerError
from . import ZSTD_MAGIC
from .dumptools import error_line
from .pg_snapshot import SnapshotSession
from .pipes import BLOCK, DumpSink, widen_pipe, write_all
from .toolenv import PG, tool_env

CUSTOM_MAGIC = b"PGDMP"
NO_ZSTD = ("zstd not found on the server: pg_dump compressed the dump itself (zlib level 1), several times "
           "slower; install zstd there (apt-get install zstd / dnf install zstd)")
MIGRATIONS_COPY = re.compile(rb'\nCOPY (?:[^\s.]+\.)?"?django_migrations"? \(([^)]*)\) FROM stdin;\n')
COPY_END = b"\n\\.\n"


def find_zstd():
    return shutil.which("zstd")


def is_zstd(path):
    with open(path, "rb") as handle:
        return handle.read(4) == ZSTD_MAGIC


class MigrationsScanner:
    """Finds the django_migrations COPY block in pg_restore's script as it streams past (blocks of any size),
    keeping only that block; text() is its rows (None when the archive has no such table data)."""

    def __init__(self):
        self.carry = b""
        self.section = None
        self.done = False

    def feed(self, block):
        if self.done:
            return
        data = self.carry + block
        if self.section is None:
            if b"django_migrations" not in data:
                self.carry = data[-256:]
                return
            match = MIGRATIONS_COPY.search(data)
            if not match:
                self.carry = data[-4096:]
                return
            self.section = bytearray(data[match.start() + 1:])
        else:
            self.section += block
        end = self.section.find(COPY_END)
        if end >= 0:
            del self.section[end + len(COPY_END):]
            self.done = True
        self.carry = b""

    def text(self):
        return bytes(self.section).decode("utf-8", "replace") if self.section is not None else None


class Verifier:
    """`[zstd -dc |] pg_restore` reading the archive's bytes from write(); finish() -> (error or None,
    django_migrations COPY text or None). scan: pg_restore's script passes through this process, its
    django_migrations rows kept; else it goes to /dev/null. load: (arguments, environment) of a pg_restore that
    restores the archive into a database as it reads it instead (a rehearsal's scratch copy, scratch.py): the
    read-back and the copy in one pass; its error may then be the database's as well as the archive's."""

    def __init__(self, pg_restore, zstd, scan=True, load=None):
        scan = scan and not load
        self.errors = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
        self.decompress = None
        if zstd:
            self.decompress = subprocess.Popen([zstd, "-dc", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               stderr=self.errors[1])
            source = self.decompress.stdout
        else:
            source = subprocess.PIPE
        argv, env = ([pg_restore] + load[0], load[1]) if load else ([pg_restore, "--file=-"], tool_env(PG))
        self.reader = subprocess.Popen(argv, env=env, stdin=source,
                                       stdout=subprocess.PIPE if scan else subprocess.DEVNULL, stderr=self.errors[0])
        if self.decompress:
            self.decompress.stdout.close()
            self.input = self.decompress.stdin
        else:
            self.input = self.reader.stdin
        widen_pipe(self.input.fileno())
        self.scanner = MigrationsScanner() if scan else None
        self.thread = threading.Thread(target=self.scan, daemon=True) if scan else None
        if self.thread:
            self.thread.start()
        self.broken = False

    def scan(self):
        out = self.reader.stdout.fileno()
        widen_pipe(out)
        while True:
            block = os.read(out, BLOCK)
            if not block:
                break
            self.scanner.feed(block)

    def write(self, block):
        if not self.broken:
            try:
                write_all(self.input.fileno(), block)
            except BrokenPipeError:  # it stopped reading: finish() reports why
                self.broken = True

    def finish(self):
        try:
            self.input.close()
        except BrokenPipeError:
            pass
        statuses = []
        if self.decompress and self.decompress.wait() != -signal.SIGPIPE:  # SIGPIPE: pg_restore stopped first
            statuses.append(("zstd", self.decompress.returncode, self.errors[1]))
        if self.thread:
            self.thread.join()
        statuses.insert(0, ("pg_restore", self.reader.wait(), self.errors[0]))
        problem = None
        for tool, status, errors in statuses:
            if status != 0 and problem is None:
                errors.seek(0)
                problem = "%s: %s" % (tool, error_line(errors.read().decode("utf-8", "replace"), tool))
        for errors in self.errors:
            errors.close()
        return problem, self.scanner.text() if self.scanner else None

    def kill(self):
        for process in (self.decompress, self.reader):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def dump_streamed(engine, env, fd, stream, snapshot=None, load_into=None):
    """Dump `engine`'s database into the open file `fd` (and `stream`, chunk-framed, when given: the caller
    writes END_FRAME after it, also on failure); returns
    {"sha256", "size", "problem" (verifier's error or None), "migrations_copy", "compression", "notice",
    "loaded_into"}. snapshot: one the caller holds exported (else this function exports one, see pg_snapshot).
    load_into: an empty scratch database the verifying pg_restore restores the archive into as it reads it
    ("loaded_into" names it when it did: not when the migrations must come from pg_restore's script)."""
    zstd = find_zstd()
    session = SnapshotSession(engine.psql_argv(), env, imported=snapshot)
    selected = session.start()
    if selected is not None:
        snapshot, migrations_copy = selected
    argv = [engine.pg_dump, "--format=custom", "--no-owner", "--no-acl", "--compress=%d" % (0 if zstd else 1)]
    argv += (["--snapshot=" + snapshot] if snapshot else []) + engine.target()
    load = (restore_argv(engine, load_into), env) if load_into and selected is not None else None
    try:
        made = _dump(engine, env, argv, zstd, fd, stream, scan=selected is None, load=load)
    finally:
        session.close()
    if selected is not None:
        made["migrations_copy"] = migrations_copy
    made["loaded_into"] = load_into if load else None
    return made


def restore_argv(engine, name):
    """pg_restore's arguments that restore an archive into the scratch database `name`, in one transaction."""
    return (["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction"]
            + [arg for arg in engine.target() if not arg.startswith("--dbname=")] + ["--dbname=" + name])


def _dump(engine, env, argv, zstd, fd, stream, scan, load=None):
    dump_errors, zstd_errors = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    dumper = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=dump_errors)
    compressor = None
    processes = [dumper]
    if zstd:
        widen_pipe(dumper.stdout.fileno())
        compressor = subprocess.Popen([zstd, "-1", "-T0", "-q", "-c"], stdin=dumper.stdout, stdout=subprocess.PIPE,
                                      stderr=zstd_errors)
        dumper.stdout.close()
        processes.append(compressor)
        source = compressor.stdout
    else:
        source = dumper.stdout
    verifier = Verifier(engine.pg_restore, zstd, scan=scan, load=load)
    sink = DumpSink(fd, stream, verifier)
    try:
        sink.drain(source)
        failed = None
        for process, tool, errors in ((dumper, "pg_dump", dump_errors), (compressor, "zstd", zstd_errors)):
            if process is not None and process.wait() != 0 and failed is None:
                errors.seek(0)
                failed = "%s of %r failed: %s" % (tool, engine.database["name"],
                                                  error_line(errors.read().decode("utf-8", "replace"), tool))
        problem, migrations_copy = verifier.finish()
    except BaseException:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        verifier.kill()
        raise
    finally:
        dump_errors.close()
        zstd_errors.close()
    if failed:
        raise ServerError(failed)
    return {"sha256": sink.digest.hexdigest(), "size": sink.size, "problem": problem,
            "migrations_copy": migrations_copy,
            "compression": "zstd -1" if zstd else "pg_dump zlib level 1",
            "notice": None if zstd else NO_ZSTD}


class ArchiveSource:
    """What pg_restore reads a backup file from: the path itself (a plain custom-format .dump, as earlier
    versions made), or the stdout of `zstd -dc path`. argv: pg_restore's input argument (none for stdin);
    stdin: for Popen; problem(): zstd's error after the reader is done, None when it read the file cleanly."""

    def __init__(self, path):
        self.path = path
        self.process = None
        self.errors = None

    def __enter__(self):
        if not is_zstd(self.path):
            self.argv, self.stdin = [self.path], subprocess.DEVNULL
            return self
        zstd = find_zstd()
        if not zstd:
            raise ServerError("%s is compressed with zstd, which is not installed here: install zstd (apt-get install "
                              "zstd / dnf install zstd)" % self.path)
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen([zstd, "-dc", "-q", "--", self.path], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=self.errors)
        self.argv, self.stdin = [], self.process.stdout
        return self

    def started(self):
        """Call once the reader has been started: this process keeps no copy of the pipe."""
        if self.process is not None:
            self.process.stdout.close()

    def problem(self):
        if self.process is None or self.process.wait() in (0, -signal.SIGPIPE):  # SIGPIPE: the reader stopped
            return None
        self.errors.seek(0)
        return "zstd: " + error_line(self.errors.read().decode("utf-8", "replace"), "zstd")

    def __exit__(self, *exc):
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.errors.close()
