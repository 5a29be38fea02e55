"""The server side of an upload (openssh.RECEIVER, run by the server's Python as the bytes arrive): it writes and
hashes them, and starts their disk writes as it goes, so the fsync a restore makes before the file becomes the
live database does not wait for all of them at the end."""
import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest

from deploytasks.openssh import RECEIVER
from tests._util import dirty_pages

def receive(source, target, *options):
    with open(source, "rb") as stdin:
        done = subprocess.run([sys.executable, "-S", "-c", RECEIVER, str(target), *options], stdin=stdin,
                              capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_receiver_writes_and_hashes_what_arrives_and_starts_its_disk_writes_as_it_goes(tmp_path):
    source = tmp_path / "upload"
    with open(source, "wb") as handle:
        for _ in range(96):
            handle.write(os.urandom(1 << 20))
    target = tmp_path / "received.partial"
    report = receive(source, target, "writeback")
    assert target.read_bytes() == source.read_bytes()
    assert report["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert report["fingerprint"][0] == 96 << 20 and stat.S_IMODE(target.stat().st_mode) == 0o600
    dirty = dirty_pages(target)
    if dirty is None:
        pytest.skip("this kernel cannot tell a file's dirty pages (cachestat)")
    # without early writeback all 96 MiB would still wait for the fsync; what is left is the last 32 MiB at most,
    # and the 32 MiB before them may still be on their way to the disk
    assert dirty * os.sysconf("SC_PAGE_SIZE") <= 65 << 20, dirty
