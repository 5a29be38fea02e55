"""A shared file goes to the server in one command, its bytes (base64) on stdin: run here by a real shell through
an Invoke context, as Fabric runs it on a server."""
import os
import stat

import pytest
from invoke import Context

from deploytasks import shared, shell
from deploytasks.errors import DeployTasksError
from deploytasks.shell import WholeInput


def item(tmp_path, data):
    local = tmp_path / "deploy" / "prod" / ".env"
    local.parent.mkdir(parents=True)
    local.write_bytes(data)
    return shared.SharedFile(".env", str(local), "deploy/prod/.env", str(tmp_path / "srv" / "shared" / ".env"))


def test_an_upload_arrives_whole_and_private_binary_bytes_included(tmp_path):
    data = b"SECRET_KEY=x\n" + bytes(range(256))
    upload = item(tmp_path, data)
    assert shared.upload(Context(), upload) == ""
    assert open(upload.remote, "rb").read() == data
    assert stat.S_IMODE(os.stat(upload.remote).st_mode) == 0o600
    assert os.listdir(os.path.dirname(upload.remote)) == [".env"]


def test_an_upload_cut_short_is_refused_and_leaves_the_servers_copy_and_no_partial(tmp_path, monkeypatch):
    upload = item(tmp_path, b"SECRET_KEY=new\n" * 100)
    os.makedirs(os.path.dirname(upload.remote))
    with open(upload.remote, "w") as handle:
        handle.write("SECRET_KEY=old\n")

    class CutShort(WholeInput):  # the connection drops half-way: the server's stdin just ends
        def __init__(self, text):
            super().__init__(text[: len(text) // 2])

    monkeypatch.setattr(shell, "WholeInput", CutShort)  # the stdin shell.written_from_stdin hands the command
    with pytest.raises(DeployTasksError, match="uploading shared/.env failed"):
        shared.upload(Context(), upload, backup=True)
    assert open(upload.remote).read() == "SECRET_KEY=old\n"
    assert os.listdir(os.path.dirname(upload.remote)) == [".env"], "no partial upload and no backup left"
