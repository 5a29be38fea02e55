"""A PostgreSQL restore's early safety dump (server/early_safety.py): when it may stand for a dump under the
write locks, and what adopting or discarding it does to the files (the dump itself runs in the remote tests)."""
import hashlib
import json
import os

from deploytasks.server import early_safety
from deploytasks.server.manifests import READ_BACK_LIST, read_back_here


def test_only_a_snapshot_with_nothing_running_and_no_id_handed_out_since_is_unchanged():
    assert early_safety.unchanged("100:105:", "105:105:")
    assert not early_safety.unchanged("100:105:101,103", "105:105:")  # 101 and 103 may commit after it
    assert not early_safety.unchanged("100:105:", "100:106:")  # a transaction took id 105: it may have written
    assert not early_safety.unchanged(None, "100:105:")
    assert not early_safety.unchanged("garbage", "100:105:")


def early_dump(tmp_path, txids, state="done"):
    lock, uploaded, dest = tmp_path / "lock", tmp_path / "uploaded", tmp_path / "backups"
    for directory in (lock, uploaded, dest):
        directory.mkdir()
    directory = uploaded / "early-safety-1"
    directory.mkdir()
    dump = directory / "db-20261204T000000Z-pre-restore.dump.zst"
    dump.write_bytes(b"dump")
    (directory / (dump.name + ".json")).write_text(json.dumps({"file": dump.name, "consistent_with": early_safety.KEPT,
                                                               "sha256": hashlib.sha256(b"dump").hexdigest()}))
    early_safety.report(str(lock), state=state, pid=os.getpid(), group=None, directory=str(directory),
                        path=str(dump), txids=txids)
    return {"lock": str(lock), "safety_dest": str(dest)}, directory, dest


def test_an_unchanged_early_dump_becomes_the_safety_backup(tmp_path):
    params, directory, dest = early_dump(tmp_path, "100:105:")
    manifest = early_safety.adopt(params, "105:105:")
    assert manifest["path"] == str(dest / "db-20261204T000000Z-pre-restore.dump.zst")
    assert manifest["consistent_with"] == early_safety.KEPT
    assert sorted(os.listdir(dest)) == [READ_BACK_LIST, "db-20261204T000000Z-pre-restore.dump.zst",
                                         "db-20261204T000000Z-pre-restore.dump.zst.json"]
    assert not directory.exists()
    # it was read back whole as it was made: a restore of it later need not read it again
    assert read_back_here(str(dest), hashlib.sha256(b"dump").hexdigest())


def test_a_stale_early_dump_is_removed_and_not_used(tmp_path):
    params, directory, dest = early_dump(tmp_path, "100:105:")
    assert early_safety.adopt(params, "105:107:") is None
    assert not directory.exists() and os.listdir(dest) == []
    assert early_safety.read(params["lock"]) is None


def test_without_an_early_dump_there_is_nothing_to_adopt(tmp_path):
    assert early_safety.adopt({"lock": str(tmp_path), "safety_dest": str(tmp_path)}, "1:2:") is None
    assert early_safety.adopt({"lock": None, "safety_dest": str(tmp_path)}, "1:2:") is None


def test_a_running_dump_that_writes_nothing_is_not_waited_for_forever(tmp_path):
    params, directory, _ = early_dump(tmp_path, "100:105:", state="running")
    status = early_safety.wait_for(params["lock"], early_safety.read(params["lock"]), lambda s: True,
                                   stalled_after=0.3)
    assert status["state"] == "stalled"
