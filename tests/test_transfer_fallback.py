"""The SFTP fallback of a transfer is for an `ssh` that could not be used, not for a connection that dropped: Fabric
would open a new connection and the transfer, and what follows it (a restore), would start all over again."""
from types import SimpleNamespace

import pytest

from deploytasks import transfer
from deploytasks.connection import secure
from deploytasks.errors import ConnectionLost
from tests.sshd import make_sshd_fixture

sshd = make_sshd_fixture("sshd", host="127.0.0.194", scope="module")


def opened(sshd):
    c = sshd.connection()
    secure(c, SimpleNamespace(accept_new_hosts=False, known_hosts=[str(sshd.known_hosts)]))
    c.open()
    return c


def test_an_upload_whose_connection_dropped_raises_connection_lost_and_sends_nothing(sshd, tmp_path):
    local = tmp_path / "backup.sqlite3"
    local.write_bytes(b"rows" * 1000)
    c = opened(sshd)
    c.transport.close()  # as a dropped network leaves it
    with pytest.raises(ConnectionLost, match=r"^the connection to the server was lost \(closed or dropped\) during "
                                             r"the upload of "):
        transfer.upload(c, str(local), str(tmp_path / "uploaded"), None)
    assert not c.is_connected and not list(tmp_path.glob("uploaded*"))


def test_with_the_connection_up_the_fallback_sends_over_sftp(sshd, tmp_path):
    local = tmp_path / "backup.sqlite3"
    local.write_bytes(b"rows" * 1000)
    c = opened(sshd)
    transfer.upload(c, str(local), str(tmp_path / "uploaded"), {"sha256": "x"})
    assert (tmp_path / "uploaded").read_bytes() == local.read_bytes()
    assert (tmp_path / "uploaded.json").stat().st_mode & 0o777 == 0o600
    c.close()
