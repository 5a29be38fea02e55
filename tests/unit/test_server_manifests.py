"""The server package's backup-file helpers, on temp files."""
import hashlib
import json
import os

import pytest

from deploytasks.server import manifests
from deploytasks.server.errors import ServerError
from deploytasks.server.manifests import (backup_kind, backup_name, compare_migrations, list_backups, prune_backups,
                                          read_manifest)


def make_backup(directory, name, created, content=b"data"):
    (directory / name).write_bytes(content)
    (directory / (name + ".json")).write_text(json.dumps({"created": created, "file": name}))


def test_backup_name_never_reuses_a_name_or_a_partial_one(tmp_path):
    first = backup_name(str(tmp_path), "/srv/db.sqlite3", "pre-deploy", ".sqlite3")
    (tmp_path / first).write_bytes(b"")
    second = backup_name(str(tmp_path), "/srv/db.sqlite3", "pre-deploy", ".sqlite3")
    (tmp_path / (second + ".partial")).write_bytes(b"")
    third = backup_name(str(tmp_path), "/srv/db.sqlite3", "pre-deploy", ".sqlite3")
    assert len({first, second, third}) == 3
    assert first.startswith("db.sqlite3-") and first.endswith("-pre-deploy.sqlite3")


def test_backup_name_makes_a_safe_stem_from_an_odd_database_name(tmp_path):
    name = backup_name(str(tmp_path), "my db/../;rm -rf", None, ".dump")
    assert "/" not in name and " " not in name and ";" not in name


def test_compare_migrations_says_what_the_backup_lacks_and_what_the_code_does_not_know():
    files = {"shop": ["0001_initial", "0002_price"], "auth": ["0001_initial"]}
    restored = {"shop": ["0001_initial", "0099_gone"], "legacy": ["0001_initial"]}
    comparison = compare_migrations(files, restored)
    assert comparison["shop"]["missing"] == ["0002_price"]
    assert comparison["shop"]["unknown"] == ["0099_gone"]
    assert comparison["shop"]["backup_applied"] == 1
    assert comparison["auth"]["backup_latest"] is None and comparison["auth"]["code_total"] == 1
    assert comparison["legacy"]["code_latest"] is None


def test_read_manifest_refuses_a_backup_without_one_unless_unverified(tmp_path):
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"x")
    with pytest.raises(ServerError, match="pass --unverified"):
        read_manifest(str(dump))
    assert read_manifest(str(dump), unverified=True) is None


def test_read_manifest_reports_a_missing_file_and_bad_json(tmp_path):
    with pytest.raises(ServerError, match="not found"):
        read_manifest(str(tmp_path / "absent.dump"))
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"x")
    (tmp_path / "x.dump.json").write_text("{not json")
    with pytest.raises(ServerError, match="not valid JSON"):
        read_manifest(str(dump))


def test_prune_backups_keeps_the_newest_and_the_protected_one(tmp_path):
    for day in range(1, 5):
        make_backup(tmp_path, f"db-{day}.sqlite3", f"2026-01-0{day}T00:00:00Z")
    removed = prune_backups(str(tmp_path), 2, protect=("db-1.sqlite3",))
    assert removed == ["db-2.sqlite3"]
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f"db-{d}.sqlite3{s}" for d in (1, 3, 4) for s in ("", ".json")])
    assert prune_backups(str(tmp_path), 0) == []


def test_prune_backups_keeps_the_newest_of_each_kind_so_routine_backups_never_push_out_a_safety_backup(tmp_path):
    made = {}
    for kind in ("", "-pre-deploy", "-pre-restore"):
        for day in range(1, 5):
            name = f"db-2026010{day}T000000Z{kind}{'-2' if day == 4 and kind else ''}.sqlite3"
            make_backup(tmp_path, name, f"2026-01-0{day}T00:00:{len(kind):02d}Z")
            made.setdefault(kind, []).append(name)
    make_backup(tmp_path, "db-20260105T000000Z-nightly.sqlite3", "2026-01-05T00:00:00Z")  # a --label of the user's
    removed = prune_backups(str(tmp_path), 2, protect=(made["-pre-deploy"][0],))
    assert sorted(removed) == sorted([*made[""][:3], made["-pre-deploy"][1], *made["-pre-restore"][:2]])
    kept = {name for name in os.listdir(tmp_path) if not name.endswith(".json")}
    assert kept == {"db-20260105T000000Z-nightly.sqlite3", made[""][3], made["-pre-deploy"][0],
                    *made["-pre-deploy"][2:], *made["-pre-restore"][2:]}
    assert backup_kind(made["-pre-restore"][3]) == "pre-restore" and backup_kind(made[""][0]) == ""
    assert backup_kind("db-20260105T000000Z-nightly.sqlite3") == ""


def test_list_backups_orders_newest_first_and_checks_the_sha256_when_asked(tmp_path):
    make_backup(tmp_path, "old.sqlite3", "2026-01-01T00:00:00Z")
    make_backup(tmp_path, "new.sqlite3", "2026-02-01T00:00:00Z")
    listed = list_backups({"dir": str(tmp_path), "verify": True})
    assert [b["file"] for b in listed["backups"]] == ["new.sqlite3", "old.sqlite3"]
    assert all(b["present"] and b["sha256_ok"] is False for b in listed["backups"])


def test_archives_read_back_when_made_are_remembered_by_sha256_privately_and_only_the_newest(tmp_path):
    digests = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(2 * manifests.READ_BACK_KEEP + 10)]
    assert not manifests.read_back_here(str(tmp_path), digests[0])  # nothing yet (no list)
    manifests.remember_read_back(str(tmp_path), digests[0])
    assert manifests.read_back_here(str(tmp_path), digests[0])
    assert not manifests.read_back_here(str(tmp_path), digests[1])
    assert os.stat(tmp_path / manifests.READ_BACK_LIST).st_mode & 0o777 == 0o600
    for digest in ("", None, digests[0][:12], digests[0] + "\n" + digests[1], digests[0].upper()):
        assert not manifests.read_back_here(str(tmp_path), digest)  # only a whole sha256 matches
    assert not manifests.read_back_here(None, digests[0])
    for digest in digests[1:]:
        manifests.remember_read_back(str(tmp_path), digest)
    kept = (tmp_path / manifests.READ_BACK_LIST).read_text().split()
    assert len(kept) <= 2 * manifests.READ_BACK_KEEP and kept[-1] == digests[-1]
    assert manifests.read_back_here(str(tmp_path), digests[-1])
    assert not manifests.read_back_here(str(tmp_path), digests[0])  # the oldest went
