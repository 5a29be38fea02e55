"""The server code travels as one zip, shipped into {path}/.deploytasks once per version and reused."""
import hashlib
import os

from deploytasks import bundle


def shipped(server):
    return server.path / ".deploytasks" / bundle.current().name


def test_a_deploy_ships_the_server_code_once_into_a_private_directory(deployed):
    path = shipped(deployed)
    assert path.read_bytes() == bundle.current().data
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert not [name for name in os.listdir(path.parent) if name.endswith(".partial")]
    twins = [name for name in os.listdir(path.parent) if name.startswith(path.name[:-4] + ".cpython-")]
    assert len(twins) == 1, os.listdir(path.parent)  # its bytecode for the server's Python, written by its first run


def test_a_redeploy_reuses_the_shipped_code(deployed):
    before = shipped(deployed).stat()
    deployed.fab("deploy").ok()
    after = shipped(deployed).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_server_code_that_went_missing_is_shipped_again(deployed):
    shipped(deployed).unlink()
    listed = deployed.fab("releases").ok()
    assert deployed.current_name() in listed.stdout
    assert shipped(deployed).read_bytes() == bundle.current().data


def test_a_streamed_backup_ships_missing_server_code_through_fabric_and_runs_again(deployed):
    shipped(deployed).unlink()
    manifest = deployed.fab("backup", "--json").ok().json()
    with open(manifest["local_path"], "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == manifest["sha256"]
    assert shipped(deployed).read_bytes() == bundle.current().data
