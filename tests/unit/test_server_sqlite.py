"""The SQLite engine on real temp databases: backup, verify, restore, rehearsal copy."""
import io
import json
import os
import sqlite3

import pytest

from deploytasks.server.engines import engine_for
from deploytasks.server.errors import ServerError
from deploytasks.server.files import fingerprint, sha256_of


def make_database(path, rows=100, wal=True):
    connection = sqlite3.connect(path)
    if wal:
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT)")
    connection.executemany("INSERT INTO django_migrations (app, name, applied) VALUES (?, ?, '')",
                           [("shop", "0001_initial"), ("shop", "0002_price")])
    connection.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany("INSERT INTO item (name) VALUES (?)", [("item %d" % i,) for i in range(rows)])
    connection.commit()
    connection.close()


def count(path):
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT count(*) FROM item").fetchone()[0]
    finally:
        connection.close()


def engine(path):
    return engine_for({"vendor": "sqlite", "alias": "default", "name": str(path)})


@pytest.fixture
def live(tmp_path):
    path = tmp_path / "db.sqlite3"
    make_database(path)
    return path


def test_a_backup_round_trips_through_verify_and_restore(tmp_path, live):
    dest = tmp_path / "backups"
    manifest = engine(live).backup(str(dest), {"label": "test", "version": "t"}, {"database_alias": "default"})
    backup = manifest["path"]
    assert oct(os.stat(backup).st_mode & 0o777) == "0o600"
    assert manifest["sha256"] == sha256_of(backup) and manifest["size"] == os.path.getsize(backup)
    assert json.load(open(backup + ".json"))["sha256"] == manifest["sha256"]
    assert engine(live).verify(backup) is None
    assert engine(live).migrations_in(backup) == {"shop": ["0001_initial", "0002_price"]}

    connection = sqlite3.connect(live)
    connection.execute("DELETE FROM item")
    connection.commit()
    connection.close()
    assert count(live) == 0
    params = {"apply": True, "safety_dest": str(dest), "version": "t"}
    sqlite = engine(live)
    deferred = sqlite.check_backup(backup, manifest, params, fingerprint(backup))
    result = sqlite.restore_backup(backup, params, deferred)
    assert count(live) == 100
    assert result["method"] in ("renamed into place", "online backup API")
    assert count(result["safety_backup"]) == 0  # the safety copy holds what was live before


def test_a_damaged_backup_fails_its_checksum_before_anything_is_restored(tmp_path, live):
    manifest = engine(live).backup(str(tmp_path / "b"), {}, {})
    backup = manifest["path"]
    with open(backup, "r+b") as handle:
        handle.seek(5000)
        handle.write(b"\xff" * 16)
    with pytest.raises(ServerError, match="does not match its manifest's sha256"):
        engine(live).check_backup(backup, manifest, {}, fingerprint(backup))
    assert count(live) == 100


def test_a_file_that_is_not_sqlite_is_refused(tmp_path, live):
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_bytes(b"not a database at all" * 100)
    assert "is not an SQLite database" in engine(live).verify(str(bogus))
    with pytest.raises(ServerError, match="is not an SQLite database"):
        engine(live).check_backup(str(bogus), None, {}, fingerprint(bogus))


def test_a_backup_of_another_engine_is_named_as_such(tmp_path, live):
    with pytest.raises(ServerError, match="is a postgresql backup, but the 'default' database is sqlite"):
        engine(live).check_kind(str(live), {"engine": "postgresql"})


def test_a_missing_database_cannot_be_backed_up(tmp_path):
    sqlite = engine(tmp_path / "absent.sqlite3")
    assert not sqlite.has_data()
    with pytest.raises(ServerError, match="does not exist: run migrate first"):
        sqlite.backup(str(tmp_path / "b"), {}, {})


def test_the_rehearsal_copy_is_a_separate_file_that_drop_copy_removes(tmp_path, live):
    manifest = engine(live).backup(str(tmp_path / "b"), {}, {})
    sqlite = engine(live)
    copy = sqlite.copy_for_rehearsal(manifest["path"])
    assert copy["NAME"] != manifest["path"] and count(copy["NAME"]) == 100
    sqlite.drop_copy(copy)
    assert not os.path.exists(copy["NAME"])
    assert os.path.exists(manifest["path"])


class Stream(io.BytesIO):
    """sys.stdout.buffer as the backup sees it: the header written through it, the bytes to its fileno()."""

    def __init__(self, fd):
        super().__init__()
        self.fd = fd

    def fileno(self):
        return self.fd


def test_a_streamed_backup_frames_exactly_the_bytes_it_keeps(tmp_path, live):
    read_fd, write_fd = os.pipe()
    stream = Stream(write_fd)
    import threading

    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(iter_read(read_fd)))
    reader.start()
    manifest = engine(live).backup(str(tmp_path / "b"), {}, {}, stream=stream)
    os.close(write_fd)
    reader.join()
    os.close(read_fd)
    header = stream.getvalue().decode()
    assert header.startswith("\n@@DEPLOYTASKS-STREAM@@")
    assert json.loads(header.split("@@", 2)[2]) == {"file": manifest["file"], "size": manifest["size"]}
    assert bytes(received) == open(manifest["path"], "rb").read()


def iter_read(fd):
    chunks = []
    while True:
        block = os.read(fd, 1 << 16)
        if not block:
            return b"".join(chunks)
        chunks.append(block)
