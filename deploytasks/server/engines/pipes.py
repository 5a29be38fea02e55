"""Writing a backup's bytes to pipes: whole writes, a 1 MiB pipe buffer, the line that starts a stream (STREAM_MARKER
and its JSON header), and the chunk frames of a stream whose length is not known in advance (each chunk after its
size as 8 hex digits and a newline; size 0 ends it). The client (openssh.py) reads with the same pieces."""
import hashlib
import os

STREAM_MARKER = "@@DEPLOYTASKS-STREAM@@"
BLOCK = 1 << 20
END_FRAME = b"%08x\n" % 0


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_frame(fd, block):
    write_all(fd, b"%08x\n" % len(block))
    write_all(fd, block)


def widen_pipe(fd, size=BLOCK):
    """A 1 MiB pipe buffer instead of 64 KiB: far fewer wake-ups between this process and sshd (Linux)."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError):  # not a pipe, not Linux, or above pipe-max-size: keep the default
        pass


class DumpSink:
    """Where a dump's bytes go as they come: hashed, written to the open backup file `fd` (its disk writes started
    as it grows: files.Writeback), framed down `stream` when there is one, and to `read_back` (write(block))."""

    def __init__(self, fd, stream, read_back):
        from ..files import Writeback

        self.fd, self.read_back = fd, read_back
        self.digest, self.size = hashlib.sha256(), 0
        self.writeback = Writeback(fd)
        self.stream_fd = stream.fileno() if stream is not None else None

    def write(self, block):
        self.digest.update(block)
        self.size += len(block)
        write_all(self.fd, block)
        self.writeback.at(self.size)
        if self.stream_fd is not None:
            write_frame(self.stream_fd, block)
        self.read_back.write(block)

    def drain(self, source, change=None):
        """Everything the pipe `source` (a file object) gives, passed through change(block) when given."""
        out = source.fileno()
        widen_pipe(out)
        for block in iter(lambda: os.read(out, BLOCK), b""):
            self.write(change(block) if change else block)
        source.close()
