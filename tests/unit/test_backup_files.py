"""A local backup is checked against its manifest before it travels anywhere."""
import hashlib
import json

import pytest

from deploytasks.backups import verify_local
from deploytasks.errors import DeployTasksError


@pytest.fixture
def backup(tmp_path):
    path = tmp_path / "20260101T000000Z.sqlite3"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    manifest = {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (tmp_path / (path.name + ".json")).write_text(json.dumps(manifest))
    return path


def test_a_backup_matching_its_manifest_returns_the_manifest(backup):
    assert verify_local(str(backup))["size"] == backup.stat().st_size


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DeployTasksError, match=r"backup file .*absent.sqlite3 not found"):
        verify_local(str(tmp_path / "absent.sqlite3"))


def test_a_file_without_manifest_needs_unverified(backup):
    (backup.parent / (backup.name + ".json")).unlink()
    with pytest.raises(DeployTasksError, match="beside the backup: pass --unverified to restore it anyway"):
        verify_local(str(backup))
    assert verify_local(str(backup), unverified=True) == {}


def test_a_manifest_that_is_not_json_is_named(backup):
    (backup.parent / (backup.name + ".json")).write_text("{not json")
    with pytest.raises(DeployTasksError, match="is not valid JSON"):
        verify_local(str(backup))


def test_a_truncated_file_is_refused_by_its_size(backup):
    with open(backup, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(DeployTasksError, match="is 100 bytes but its manifest says"):
        verify_local(str(backup))


def test_a_changed_byte_is_refused_by_the_hash_unless_the_receiver_hashes_it(backup):
    data = bytearray(backup.read_bytes())
    data[-1] ^= 0xFF
    backup.write_bytes(bytes(data))
    with pytest.raises(DeployTasksError, match="does not match its manifest's sha256"):
        verify_local(str(backup))
    assert verify_local(str(backup), full=False)["size"] == len(data)
