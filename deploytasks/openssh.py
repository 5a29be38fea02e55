"""Bulk transfers through the OpenSSH client, when there is one: its C ciphers move a large dump about
twice as fast as paramiko's SFTP here. Same host, user, port, keys and host-key rules as the Fabric
connection; anything it cannot mirror (a gateway, no `ssh` binary) falls back to SFTP."""
import functools
import json
import os
import shutil
import subprocess
import threading

from . import bundle
from .host_names import known_hosts_files
from .server.engines.pipes import STREAM_MARKER, widen_pipe, write_all
from .server.layout import ServerLayout
from .server.process_end import end_watch
from .server.runner import NO_SITE
from .shell import START, START_LINE, q


def ssh_argv(c, settings):
    """argv prefix for `ssh` equivalent to connection `c`, or None when it cannot be mirrored."""
    ssh = shutil.which("ssh")
    if not ssh or c.gateway:
        return None
    strict = "accept-new" if settings.accept_new_hosts else "yes"
    argv = [ssh, "-T", "-x", "-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={strict}",
            "-o", f"ConnectTimeout={int(c.connect_timeout or 15)}", "-p", str(c.port), "-l", c.user]
    # Fabric keeps `fab -S FILE` in Config._runtime_ssh_path and offers no public getter.
    config_path = getattr(c.config, "_runtime_ssh_path", None) or c.config.get("ssh_config_path")
    if config_path:
        argv += ["-F", config_path]
    files = known_hosts_files(c, settings)
    if files:
        argv += ["-o", "UserKnownHostsFile=" + " ".join(f'"{path}"' for path in files)]
    keys = c.connect_kwargs.get("key_filename") or []
    for key in [keys] if isinstance(keys, str) else keys:
        argv += ["-i", key]
    if has_aes_instructions():
        argv += ["-o", "Ciphers=^" + AES_GCM]
    return argv + [c.host, "--"]


AES_GCM = "aes128-gcm@openssh.com,aes256-gcm@openssh.com"


@functools.lru_cache(maxsize=1)
def has_aes_instructions() -> bool:
    """AES in hardware (x86 `aes`, ARM `aes` feature): AES-GCM then moves bulk data about twice as fast as
    OpenSSH's default chacha20-poly1305, so it goes first in the offer (the server still picks from its list)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith(("flags", "Features")):
                    return "aes" in line.split(":", 1)[1].split()
    except OSError:
        pass
    return False


def _watch(process, position, progress):
    """Report position() to progress every 0.1 s while the process runs; returns its exit status as soon as it
    ends (a pidfd wakes us; without one, within 0.1 s)."""
    with end_watch(process.pid) as wait:
        while process.poll() is None:
            progress(position())
            wait(0.1)
    return process.returncode


def _stdin_position(pid):
    """How far a process has read its stdin file (Linux /proc), for the progress bar."""
    try:
        with open(f"/proc/{pid}/fdinfo/0") as info:
            for line in info:
                if line.startswith("pos:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _failure(process, what):
    stderr = process.stderr.read().decode(errors="replace").strip()
    return OSError(f"{what} failed: {stderr.splitlines()[-1] if stderr else process.returncode}")


def fetch(c, settings, remote, handle, progress):
    """Copy the remote file into the open local file `handle` with `ssh … cat`, spliced from ssh's pipe into it
    after the command's start line (what the server's shell printed as it started is not the file's).
    False, with nothing written, when ssh cannot be used."""
    argv = ssh_argv(c, settings)
    if argv is None:
        return False
    process = subprocess.Popen(argv + [f"{START_LINE}exec cat -- {q(remote)}"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    failures = []
    copier = threading.Thread(target=_copy_after_start, args=(process.stdout, handle.fileno(), failures), daemon=True)
    copier.start()
    code = _watch(process, lambda: os.fstat(handle.fileno()).st_size, progress)
    copier.join()
    if failures:  # this side could not write (a full disk): that, not ssh's broken pipe, is what failed
        raise failures[0]
    if code == 255:  # ssh itself failed (auth, host key, connection): start again over SFTP, which reports it
        handle.seek(0)
        handle.truncate()
        return False
    if code != 0:
        raise _failure(process, f"ssh cat {remote}")
    progress(os.fstat(handle.fileno()).st_size)
    return True


RECEIVER = """
import fcntl, hashlib, json, os, shutil, subprocess, sys
try:
    fcntl.fcntl(0, 1031, 1 << 20)  # F_SETPIPE_SZ: a 1 MiB pipe from sshd, far fewer wake-ups
except OSError:
    pass
source, decompressor = 0, None
if "zstd" in sys.argv[2:]:
    zstd = shutil.which("zstd")
    if zstd is None:
        sys.exit(97)
    decompressor = subprocess.Popen([zstd, "-dcq"], stdin=0, stdout=subprocess.PIPE)
    source = decompressor.stdout.fileno()
start_writeback = None
if "writeback" in sys.argv[2:]:  # a file to be fsynced next (it becomes a live database): its disk writes start now
    try:
        import ctypes
        start_writeback = ctypes.CDLL(None, use_errno=True).sync_file_range
        start_writeback.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    except (ImportError, OSError, AttributeError):  # not Linux
        start_writeback = None
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
digest = hashlib.sha256()
written = flushed = 0
while True:
    block = os.read(source, 1 << 20)
    if not block:
        break
    digest.update(block)
    view = memoryview(block)
    while view:
        view = view[os.write(fd, view):]
    written += len(block)
    if start_writeback and written - flushed >= 32 << 20:
        start_writeback(fd, flushed, written - flushed, 2)  # SYNC_FILE_RANGE_WRITE: start, do not wait
        flushed = written
status = os.fstat(fd)
os.close(fd)
if decompressor is not None and decompressor.wait() != 0:
    os.unlink(sys.argv[1])
    sys.exit("zstd could not decompress what arrived")
print(json.dumps({"sha256": digest.hexdigest(), "fingerprint": [status.st_size, status.st_mtime_ns, status.st_ino]}))
"""
NO_ZSTD_THERE = 97  # the receiver's exit status when asked to decompress without a zstd on the server


class _Counted:
    """A file's write() that counts what went through it."""

    def __init__(self, target):
        self.target, self.count = target, 0

    def write(self, data):
        self.count += len(data)
        return self.target.write(data)


def _feed_compressed(local, stdin, done):
    """The local file through zstd (level 1, every core) into the ssh command's stdin; done[0]: bytes read,
    done[1]: bytes sent."""
    import zstandard

    counted = _Counted(stdin)
    try:
        with open(local, "rb") as source:
            writer = zstandard.ZstdCompressor(level=1, threads=-1).stream_writer(counted, closefd=False)
            while block := source.read(1 << 20):
                writer.write(block)
                done[0] += len(block)
            writer.flush(zstandard.FLUSH_FRAME)
    except OSError:  # the receiver exited (no zstd there, or a failure its status tells)
        pass
    finally:
        done[1] = counted.count
        try:
            stdin.close()
        except OSError:
            pass


def worth_compressing(local):
    """Whether a file is sent compressed: this client can compress and samples of it shrink enough."""
    from .server.engines.sqlite_stream import compresses

    if can_decompress() is None:  # zstandard is what compresses too
        return False
    fd = os.open(local, os.O_RDONLY)
    try:
        return compresses(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def send(c, settings, local, remote, progress, compress=None, then="", writeback=False):
    """Send a local file to `remote` (mode 0600) through `ssh`, hashed on the server as it arrives (so the
    server need not read it again), compressed on the way when that pays and the server has zstd; `then`: shell
    run by the same command once the file is written (umask 077); writeback: the file is to be fsynced once it is
    in (it becomes a live database), so its disk writes start as it arrives. {"sha256", "fingerprint"} of what
    was written, or None when ssh cannot be used."""
    argv = ssh_argv(c, settings)
    if argv is None:
        return None
    if compress is None:
        compress = worth_compressing(local)
    python = bundle.linked_python(settings.python, ServerLayout(settings.path).tools)
    command = (f'umask 077 && {python}"$py" {NO_SITE} -c {q(RECEIVER)} {q(remote)}' + (" zstd" if compress else "")
               + (" writeback" if writeback else "") + (f" && {then}" if then else ""))
    with open(local, "rb") as source:
        process = subprocess.Popen(argv + [command], stdin=subprocess.PIPE if compress else source,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reported = []
        reader = threading.Thread(target=_drain, args=(process.stdout, reported), daemon=True)
        reader.start()
        if compress:
            done = [0, 0]
            feeder = threading.Thread(target=_feed_compressed, args=(local, process.stdin, done), daemon=True)
            feeder.start()
            code = _watch(process, lambda: done[0], progress)
            feeder.join()
        else:
            code = _watch(process, lambda: _stdin_position(process.pid), progress)
        reader.join()
    if code == 255:  # ssh itself failed: the caller sends the file over SFTP instead
        return None
    if compress and code == NO_ZSTD_THERE:
        return send(c, settings, local, remote, progress, compress=False, then=then, writeback=writeback)
    if code != 0:
        raise _failure(process, f"ssh upload to {remote}")
    progress(os.path.getsize(local))
    try:
        received = json.loads(reported[0].decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise OSError(f"ssh upload to {remote}: the server did not report what it received") from None
    if compress:
        received["sent"] = {"compression": "zstd", "bytes": done[1]}
    return received


def _read_line(fd) -> bytes:
    """One line from an unbuffered pipe, byte by byte (so no bulk data after it is consumed)."""
    line = bytearray()
    while True:
        byte = os.read(fd, 1)
        if not byte:
            return bytes(line)
        line += byte
        if byte == b"\n":
            return bytes(line)


def _copy_after_start(stream, target_fd, failures):
    """Everything a command wrote after its START_LINE, from its pipe into target_fd (spliced where it can)."""
    try:
        source = stream.fileno()
        widen_pipe(source)
        while (line := _read_line(source)) and line != START.encode() + b"\n":
            pass
        _splice_into(source, target_fd)
    except OSError as exc:
        failures.append(exc)
    finally:
        stream.close()


def _drain(stream, into):
    into.append(stream.read())


def _splice_into(source_fd, target_fd, count=None, on_progress=lambda moved: None):
    """Move exactly `count` bytes (None: all until the pipe's end) from a pipe into a file, in the kernel where it
    can (splice)."""
    moved = 0
    splice = getattr(os, "splice", None)
    while count is None or moved < count:
        want = 1 << 20 if count is None else count - moved
        try:
            n = splice(source_fd, target_fd, want) if splice else None
        except OSError:
            splice, n = None, None
        if n is None:
            block = os.read(source_fd, min(1 << 20, want))
            n = len(block)
            write_all(target_fd, block)
        if not n:
            if count is None:
                break
            raise OSError(f"the stream ended after {moved:,} of {count:,} bytes")
        moved += n
        on_progress(moved)
    return moved


def _read_exactly(fd, count) -> bytes:
    data = bytearray()
    while len(data) < count:
        block = os.read(fd, count - len(data))
        if not block:
            raise OSError(f"the stream ended after {len(data):,} of {count:,} bytes of a chunk")
        data += block
    return bytes(data)


def _decompressor(codec):
    """What turns a stream's chunks back into the file's bytes: identity, or a zstd decompressor."""
    if not codec:
        return lambda block: block
    if codec != "zstd":
        raise OSError(f"the stream is compressed with {codec!r}, which this deploytasks cannot read")
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress


def can_decompress():
    """The stream compression this client reads (the server compresses only when told), or None."""
    import importlib.util

    return "zstd" if importlib.util.find_spec("zstandard") else None


def _receive_chunks(source_fd, target_fd, on_progress, codec=None) -> tuple:
    """Copy a chunk-framed stream (each chunk after its size as 8 hex digits and a newline; size 0 ends it)
    into a file, decompressed when the server compressed it (codec); returns the sha256 of what was written and
    how many bytes came down for it. Hashing and writing run beside the reading and decompressing."""
    import hashlib
    import queue

    digest, decompress = hashlib.sha256(), _decompressor(codec)
    blocks, failures = queue.Queue(maxsize=8), []

    def hash_and_write():
        try:
            while (block := blocks.get()) is not None:
                digest.update(block)
                write_all(target_fd, block)
        except BaseException as exc:  # raised by the reading thread
            failures.append(exc)
            while blocks.get() is not None:  # so that the reading thread never waits on a full queue
                pass

    writer = threading.Thread(target=hash_and_write, daemon=True)
    writer.start()
    moved = sent = 0
    try:
        while not failures:
            frame = _read_exactly(source_fd, 9)
            try:
                count = int(frame[:8], 16) if frame[8:] == b"\n" else -1
            except ValueError:
                count = -1
            if count < 0:
                raise OSError(f"the stream is damaged after {moved:,} bytes (bad chunk frame {frame[:9]!r})")
            if count == 0:
                break
            sent += count
            block = decompress(_read_exactly(source_fd, count))
            blocks.put(block)
            moved += len(block)
            on_progress(moved)
    finally:
        blocks.put(None)
        writer.join()
    if failures:
        raise failures[0]
    return digest.hexdigest(), sent


def receive_stream(c, settings, command, document, handle, on_start, on_progress):
    """Run `command` over ssh with `document` on its stdin; the bytes it frames with STREAM_MARKER go straight
    into the file `handle` (SSH authenticates every byte on the way; the server hashes what it sends): a
    counted run of bytes (header "size"), or chunks (header "chunked": their sha256 is then header["sha256"]).
    Returns (header, stdout text, stderr, exit status), or None when ssh cannot be used (not installed, or
    the connection itself failed before anything arrived)."""
    argv = ssh_argv(c, settings)
    if argv is None:
        return None
    process = subprocess.Popen(argv + [command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, bufsize=0)
    errors = []
    drain = threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True)
    drain.start()

    def feed():
        try:
            process.stdin.write(document.encode())
            process.stdin.close()
        except OSError:  # the remote side exited without reading it: its output says why
            pass
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    out = process.stdout.fileno()
    widen_pipe(out)
    text, header = bytearray(), None
    try:
        while True:
            line = _read_line(out)
            if not line:
                break
            if line.startswith(STREAM_MARKER.encode()):
                header = json.loads(line[len(STREAM_MARKER):])
                break
            text += line
        if header is not None:
            on_start(header)
            if header.get("chunked"):
                header["sha256"], header["sent_bytes"] = _receive_chunks(out, handle.fileno(), on_progress,
                                                                         header.get("compression"))
            else:
                _splice_into(out, handle.fileno(), header["size"], on_progress)
        while True:
            block = os.read(out, 1 << 16)
            if not block:
                break
            text += block
    finally:
        process.stdout.close()
        code = process.wait()
        feeder.join()
        drain.join()
    stderr = errors[0].decode(errors="replace") if errors else ""
    if code == 255 and header is None and not text.strip():
        return None
    return header, text.decode(errors="replace"), stderr, code
