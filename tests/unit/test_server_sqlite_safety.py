"""An SQLite restore that renames a file over the live database keeps the replaced file as its safety backup
(a second name, no copy) unless another process still has it open; then it copies it and poisons the old file so
that process's next write fails instead of landing in the safety backup."""
import os
import sqlite3
import subprocess
import sys

from deploytasks.server.engines.sqlite_exclusive import RENAMED, SafetyCopy, swap_exactly
from deploytasks.server.engines.sqlite import stage

from .test_server_sqlite import count, make_database

IDLE_CONNECTION = r'''
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=5, isolation_level=None)
connection.execute("SELECT count(*) FROM item").fetchone()
print("ready", flush=True)
sys.stdin.readline()  # idle between two requests, database open, no lock held
try:
    connection.execute("INSERT INTO item (name) VALUES ('late write')")
    print("wrote", flush=True)
except sqlite3.DatabaseError as error:
    print("refused: %s" % error, flush=True)
'''


def restore(tmp_path, live, backup):
    safety = SafetyCopy(str(live), str(tmp_path / "backups"), {"version": "t"}, {})
    staged = stage(str(backup), str(live))
    assert swap_exactly(staged, str(backup), str(live), safety) == RENAMED
    manifest = safety.publish(RENAMED)
    return safety, manifest


def test_the_replaced_file_itself_becomes_the_safety_backup_when_nothing_else_has_it_open(tmp_path):
    live, backup = tmp_path / "db.sqlite3", tmp_path / "backup.sqlite3"
    make_database(live, rows=7)
    make_database(backup, rows=3, wal=False)
    replaced = os.stat(live).st_ino

    safety, manifest = restore(tmp_path, live, backup)

    assert safety.linked and os.stat(manifest["path"]).st_ino == replaced
    assert count(live) == 3 and count(manifest["path"]) == 7
    assert sqlite3.connect(manifest["path"]).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_file_another_process_still_has_open_is_copied_and_its_late_write_refused(tmp_path):
    live, backup = tmp_path / "db.sqlite3", tmp_path / "backup.sqlite3"
    make_database(live, rows=7, wal=False)  # rollback mode: an idle connection holds no lock, nothing tells
    make_database(backup, rows=3, wal=False)
    replaced = os.stat(live).st_ino
    holder = subprocess.Popen([sys.executable, "-c", IDLE_CONNECTION, str(live)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        safety, manifest = restore(tmp_path, live, backup)
        holder.stdin.write("\n")
        holder.stdin.flush()
        late = holder.stdout.readline()
    finally:
        holder.kill()
        holder.wait()

    assert not safety.linked and os.stat(manifest["path"]).st_ino != replaced
    assert late.startswith("refused"), late
    assert count(live) == 3 and count(manifest["path"]) == 7
