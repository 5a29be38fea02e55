"""A MySQL/MariaDB dump made in one pass: `mysqldump | zstd -1 -T0` (gzip in this process where the server has no
zstd: level 1 for safety dumps, 6 otherwise), and the compressed bytes, as they come, written to the backup file,
hashed, sent down the stream (chunk-framed) and read back: decompressed again and scanned for mysqldump's header,
its django_migrations rows and its closing "Dump completed" line. A rehearsal's scratch database is fed the same
decompressed bytes as they are read back. Files made earlier (gzip) and later (zstd) read through one scanner."""
import gzip
import os
import re
import subprocess
import tempfile
import threading
import zlib

from ..errors import ServerError
from .dumptools import error_line
from .pg_stream import ZSTD_MAGIC, ArchiveSource, find_zstd
from .pipes import BLOCK, DumpSink, widen_pipe, write_all

DUMP_STARTS = (b"-- MySQL dump", b"-- MariaDB dump")
MIGRATIONS_INSERT = b"INSERT INTO `django_migrations` VALUES"
ROW = re.compile(rb"\((\d+),'((?:[^'\\]|\\.)*)','((?:[^'\\]|\\.)*)'")
NO_ZSTD = ("zstd not found on the server: the dump was gzip-compressed instead, several times slower; install zstd "
           "there (apt-get install zstd / dnf install zstd)")
GZIP = 31  # zlib's wbits for a gzip header and trailer


def unescape(value):
    value = value.decode("utf-8", "replace")
    if "\\" not in value:
        return value
    escapes = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}
    return re.sub(r"\\(.)", lambda match: escapes.get(match.group(1), match.group(1)), value)


class DumpScanner:
    """mysqldump's text as it streams past, in blocks of any size: its first lines, its django_migrations rows
    (MySQL writes them on the INSERT line, MariaDB 10.11+ one a line after it) and its last non-empty line."""

    def __init__(self):
        self.carry = b""
        self.head = []
        self.rows = []
        self.inserting = False
        self.last = b""

    def feed(self, block):
        data = self.carry + block if self.carry else block
        end = data.rfind(b"\n")
        if end < 0:
            self.carry = data
            return
        self.carry = data[end + 1:]
        self.lines(data, end + 1)

    def finish(self):
        if self.carry:
            data, self.carry = self.carry + b"\n", b""
            self.lines(data, len(data))

    def lines(self, data, stop):
        """The whole lines in data[:stop] (data[stop - 1] is a newline)."""
        position = 0
        while len(self.head) < 3 and position < stop:  # MariaDB may put a "sandbox mode" line before its header
            end = data.index(b"\n", position, stop) + 1
            self.head.append(data[position:end])
            position = end
        position = 0
        while position < stop:
            if not self.inserting:
                if data.startswith(MIGRATIONS_INSERT, position):
                    found = position
                else:
                    found = data.find(b"\n" + MIGRATIONS_INSERT, position, stop)
                    if found < 0:
                        break
                    found += 1
                self.inserting, position = True, found
            end = data.index(b"\n", position, stop) + 1
            line = data[position:end]
            self.rows += [(int(i), unescape(a), unescape(n)) for i, a, n in ROW.findall(line)]
            self.inserting = not line.rstrip().endswith(b";")
            position = end
        end = stop
        while end > 0 and data[end - 1] in b" \t\r\n":
            end -= 1
        if end > 0:
            self.last = data[data.rfind(b"\n", 0, end) + 1:end]

    def problem(self):
        """None when the text is a whole mysqldump, else what is wrong with it."""
        if not any(line.startswith(DUMP_STARTS) for line in self.head):
            return "it does not start like a mysqldump file"
        if not self.last.startswith(b"-- Dump completed"):
            return "mysqldump's closing 'Dump completed' line is missing: the dump is incomplete"
        return None

    def migrations(self):
        state = {}
        for _, app, name in sorted(self.rows):
            state.setdefault(app, []).append(name)
        return state


class ReadBack:
    """The compressed bytes written to it, decompressed again (`zstd -dc` in a child process, its output read by a
    thread; or zlib here for gzip) and handed to each of `consumers`. finish() -> the decompressor's error or None."""

    def __init__(self, zstd, consumers):
        self.consumers = consumers
        self.broken = False
        self.errors = None
        if zstd:
            self.errors = tempfile.TemporaryFile()
            self.process = subprocess.Popen([zstd, "-dc", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=self.errors)
            widen_pipe(self.process.stdin.fileno())
            self.thread = threading.Thread(target=self.pump, daemon=True)
            self.thread.start()
        else:
            self.process = None
            self.inflater = zlib.decompressobj(GZIP)
            self.problem = None

    def hand_on(self, block):
        for consume in self.consumers:
            consume(block)

    def pump(self):
        out = self.process.stdout.fileno()
        widen_pipe(out)
        for block in iter(lambda: os.read(out, BLOCK), b""):
            self.hand_on(block)

    def write(self, block):
        if self.process is None:
            if self.problem is None:
                try:
                    self.hand_on(self.inflater.decompress(block))
                except zlib.error as exc:
                    self.problem = "the gzip stream is damaged (%s)" % exc
            return
        if not self.broken:
            try:
                write_all(self.process.stdin.fileno(), block)
            except BrokenPipeError:  # zstd stopped reading: finish() reports why
                self.broken = True

    def finish(self):
        if self.process is None:
            if self.problem is None and not self.inflater.eof:
                return "the gzip stream is damaged (it ends early)"
            return self.problem
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.thread.join()
        if self.process.wait() == 0:
            self.errors.close()
            return None
        self.errors.seek(0)
        text = self.errors.read().decode("utf-8", "replace")
        self.errors.close()
        return "the zstd stream is damaged (%s)" % error_line(text, "zstd")

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def read_file(path, consume):
    """Hand the decompressed bytes of a dump file (zstd or gzip) to consume(block); the problem reading it, or
    None."""
    with open(path, "rb") as handle:
        compressed_with_zstd = handle.read(4) == ZSTD_MAGIC
    if not compressed_with_zstd:
        with gzip.open(path, "rb") as handle:
            while True:
                try:
                    block = handle.read(BLOCK)
                except (OSError, EOFError, zlib.error) as exc:
                    return "the gzip stream is damaged (%s)" % (str(exc) or type(exc).__name__)
                if not block:
                    return None
                consume(block)
    with ArchiveSource(path) as source:  # `zstd -dc path`, ended on the way out
        for block in iter(lambda: source.stdin.read(BLOCK), b""):
            consume(block)
        problem = source.problem()
    return problem and "the zstd stream is damaged (%s)" % problem[len("zstd: "):]


def scan_file(path):
    """(problem or None, {app: [migration names]}) of a dump file read whole."""
    scanner = DumpScanner()
    problem = read_file(path, scanner.feed)
    scanner.finish()
    return problem or scanner.problem(), scanner.migrations()


def dump_streamed(name, dump_argv, env, fd, stream, fast=False, replay=None):
    """mysqldump (`dump_argv`) of the database `name` into the open file `fd`, compressed, and into `stream`
    (chunk-framed) when given; read back as it is written, and fed to `replay` (scratch.MysqlReplay) when given.
    Returns {"sha256", "size", "problem" (the read-back's), "migrations", "compression", "notice"}."""
    zstd = find_zstd()
    errors = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    dumper = subprocess.Popen(dump_argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors[0])
    processes = [(dumper, "mysqldump", errors[0])]
    deflater = None
    if zstd:
        widen_pipe(dumper.stdout.fileno())
        compressor = subprocess.Popen([zstd, "-1", "-T0", "-q", "-c"], stdin=dumper.stdout, stdout=subprocess.PIPE,
                                      stderr=errors[1])
        dumper.stdout.close()
        processes.append((compressor, "zstd", errors[1]))
        source = compressor.stdout
    else:
        deflater = zlib.compressobj(1 if fast else 6, zlib.DEFLATED, GZIP)
        source = dumper.stdout
    scanner = DumpScanner()
    read_back = ReadBack(zstd, [scanner.feed] + ([replay.feed] if replay else []))
    sink = DumpSink(fd, stream, read_back)
    try:
        sink.drain(source, deflater.compress if deflater else None)
        if deflater:
            sink.write(deflater.flush())
        failed = None
        for process, tool, text in processes:
            if process.wait() != 0 and failed is None:
                text.seek(0)
                failed = "%s of %r failed: %s" % (tool, name, error_line(text.read().decode("utf-8", "replace"), tool))
        problem = read_back.finish()
        scanner.finish()
    except BaseException:
        for process, _tool, _text in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        read_back.kill()
        raise
    finally:
        for text in errors:
            text.close()
    if failed:
        raise ServerError(failed)
    return {"sha256": sink.digest.hexdigest(), "size": sink.size, "problem": problem or scanner.problem(),
            "migrations": scanner.migrations(),
            "compression": "zstd -1" if zstd else "gzip level %d" % (1 if fast else 6),
            "notice": None if zstd else NO_ZSTD}
