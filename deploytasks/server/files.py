"""Small file helpers: checksums and private atomic writes."""
import hashlib
import os
import shutil


def sha256_of(path, blocksize=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(blocksize), b""):
            digest.update(block)
    return digest.hexdigest()


def write_private(path, data):
    """Write bytes/str to path with mode 0600, atomically (temp file + rename). The temporary file is made anew
    (O_EXCL: a link planted under its name is never followed, as root too)."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written file left under its temporary name
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


WRITEBACK_STEP = 32 << 20  # bytes between two starts of a file's disk writes (Writeback)


def _sync_file_range():
    try:
        import ctypes

        call = ctypes.CDLL(None, use_errno=True).sync_file_range
        call.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        return call
    except (ImportError, OSError, AttributeError):  # not Linux
        return None


class Writeback:
    """A file being written in one pass: the disk writes of what it holds are started every WRITEBACK_STEP bytes
    (Linux sync_file_range, which does not wait for them), so the fsync that makes it durable at the end has
    little left to wait for, instead of the whole file."""

    start = None  # sync_file_range, looked up by the first Writeback

    def __init__(self, fd):
        self.fd, self.started = fd, 0
        if Writeback.start is None:
            Writeback.start = _sync_file_range() or False

    def at(self, written):
        """The file now holds `written` bytes."""
        if Writeback.start and written - self.started >= WRITEBACK_STEP:
            Writeback.start(self.fd, self.started, written - self.started, 2)  # SYNC_FILE_RANGE_WRITE
            self.started = written


def fsync_path(path, directory=False):
    """fsync a file (or, directory=True, a directory: a rename or a new name in it survives a crash)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fingerprint(path):
    """[size, mtime_ns, inode]: a file unchanged since it was last checked has the same one."""
    status = os.stat(path)
    return [status.st_size, status.st_mtime_ns, status.st_ino]


def link_directory(shared, inside):
    """Make `inside` (a path in a release) a symlink to the directory `shared` (created), replacing whatever
    the checkout had there."""
    os.makedirs(shared, exist_ok=True)
    if os.path.isdir(inside) and not os.path.islink(inside):
        shutil.rmtree(inside)
    elif os.path.lexists(inside):
        os.unlink(inside)
    os.makedirs(os.path.dirname(inside), exist_ok=True)
    os.symlink(shared, inside)
