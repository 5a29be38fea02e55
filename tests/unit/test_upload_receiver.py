"""The server side of an upload (openssh.RECEIVER, run by the server's Python as the bytes arrive): it writes and
hashes them, and starts their disk writes as it goes, so the fsync a restore makes before the file becomes the
live database does not wait for all of them at the end."""
import ctypes
import hashlib
import json
import os
import platform
import stat
import subprocess
import sys

import pytest

from deploytasks.openssh import RECEIVER

CACHESTAT = 451  # the cachestat system call (Linux 6.5+), x86_64 and most others


class CacheStat(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in
                ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


def dirty_pages(path):
    """Pages of `path` in the page cache not yet written to disk (cachestat), or None where it cannot be asked."""
    if platform.machine() != "x86_64":
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    whole = (ctypes.c_uint64 * 2)(0, 0)
    result = CacheStat()
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.syscall(CACHESTAT, fd, ctypes.byref(whole), ctypes.byref(result), 0) != 0:
            return None
    finally:
        os.close(fd)
    return result.nr_dirty


def receive(source, target):
    with open(source, "rb") as stdin:
        done = subprocess.run([sys.executable, "-S", "-c", RECEIVER, str(target)], stdin=stdin,
                              capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_receiver_writes_and_hashes_what_arrives_and_starts_its_disk_writes_as_it_goes(tmp_path):
    source = tmp_path / "upload"
    with open(source, "wb") as handle:
        for _ in range(96):
            handle.write(os.urandom(1 << 20))
    target = tmp_path / "received.partial"
    report = receive(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert report["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert report["fingerprint"][0] == 96 << 20 and stat.S_IMODE(target.stat().st_mode) == 0o600
    dirty = dirty_pages(target)
    if dirty is None:
        pytest.skip("this kernel cannot tell a file's dirty pages (cachestat)")
    # without early writeback all 96 MiB would still wait for the fsync; what is left is the last 32 MiB at most
    assert dirty * os.sysconf("SC_PAGE_SIZE") <= 33 << 20, dirty
