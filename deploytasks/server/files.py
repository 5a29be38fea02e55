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
    """Write bytes/str to path with mode 0600, atomically (temp file + rename)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


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
