"""An SQLite snapshot sent down the backup's stream compressed by `zstd -1 -T0`, as chunk frames (each chunk after
its size as 8 hex digits and a newline; size 0 ends it), when the client can decompress it, the server has zstd
and the data compresses: the client writes and hashes the file as it was (the manifest's sha256 checks it). Text,
numbers and JSON in SQLite pages shrink several times, which a link between laptop and server is the limit for;
random bytes do not, and are sent as they are."""
import os
import shutil
import subprocess
import tempfile
import threading
import zlib

from ..errors import ServerError
from .pipes import BLOCK, END_FRAME, write_all, write_frame

CODEC = "zstd"
SAMPLE = 1 << 20
WORTH_IT = 0.7  # compressed sample size over its size at which its CPU (about 3 CPU-s per GiB) pays off


def compressor_for(params, source_fd, size):
    """The zstd to compress the stream with, or None (the client cannot decompress, the server has no zstd, or
    samples from the file do not compress)."""
    if params.get("stream_compression") != CODEC:
        return None
    zstd = shutil.which("zstd")
    if zstd is None or not compresses(source_fd, size):
        return None
    return zstd


def compresses(source_fd, size):
    """Whether 1 MiB samples at a third and two thirds of the file shrink (zlib level 1 standing for zstd)."""
    samples = [os.pread(source_fd, SAMPLE, size * part // 3) for part in (1, 2)] if size > 4 * SAMPLE else \
        [os.pread(source_fd, size, 0)]
    raw = sum(len(sample) for sample in samples)
    return raw > 0 and sum(len(zlib.compress(sample, 1)) for sample in samples) <= WORTH_IT * raw


def _feed(pipe, write, failures):
    """write(fd) into zstd's stdin, then close it; what fails is kept for the sending thread to raise."""
    try:
        write(pipe.fileno())
    except BaseException as exc:
        failures.append(exc)
    finally:
        pipe.close()


def send_compressed(write, stream_fd, zstd):
    """What write(fd) writes (the snapshot's bytes) through `zstd -1 -T0` into chunk frames on stream_fd, then
    END_FRAME (also when it fails, so the client stops reading; the missing bytes then fail its size check)."""
    errors = tempfile.TemporaryFile()
    process = subprocess.Popen([zstd, "-1", "-T0", "-q", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=errors)
    failures = []
    feeder = threading.Thread(target=_feed, args=(process.stdin, write, failures))
    feeder.start()
    try:
        out = process.stdout.fileno()
        while True:
            block = os.read(out, BLOCK)
            if not block:
                break
            write_frame(stream_fd, block)
    except BaseException:
        process.kill()  # the feeder's next write then fails and it stops
        raise
    finally:
        feeder.join()
        code = process.wait()
        process.stdout.close()
        try:
            write_all(stream_fd, END_FRAME)
        except OSError:  # the client is gone
            pass
    if failures:
        raise failures[0]
    if code != 0:
        errors.seek(0)
        raise ServerError("zstd failed while compressing the backup's stream (exit %d): %s" % (
            code, errors.read().decode("utf-8", "replace").strip()[:200]))
