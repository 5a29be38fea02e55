"""`inv backup --offsite`, `inv backups --offsite`, `inv restore --from-offsite` (issue 14 §2) through the real rclone,
its `local` backend standing in for cloud storage (tests/remote/test_offsite_sftp.py uses a real SFTP server)."""
from __future__ import annotations

import json
import os

import pytest

from tests._util import assert_user_error, backup_json, sha256_file


@pytest.fixture
def offsite(migrated_site, tmp_path):
    """The site configured with an rclone.conf of its own (remote `vault`, the local backend) and keep_offsite 2."""
    store = tmp_path / "vault"
    conf = tmp_path / "rclone.conf"
    conf.write_text("[vault]\ntype = local\n")
    migrated_site.configure(offsite=f"vault:{store}/mysite", offsite_config=str(conf), keep_offsite=2)
    return migrated_site, store / "mysite"


def listed(site):
    result = site.inv("backups", "--offsite", "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)["backups"]


def test_backup_offsite_uploads_dump_and_manifest_verified_and_lists_it(offsite):
    site, store = offsite
    manifest = backup_json(site, "--offsite")
    name = os.path.basename(manifest["path"])
    assert manifest["offsite"]["verified"] == "sha256 on the remote"
    assert sha256_file(store / name) == manifest["sha256"]
    uploaded = json.loads((store / (name + ".json")).read_text())
    assert uploaded["sha256"] == manifest["sha256"] and uploaded["file"] == name
    assert "path" not in uploaded  # no paths of either side travel
    assert not [p for p in store.iterdir() if p.name.startswith(".partial-")]
    assert {oct(p.stat().st_mode & 0o777) for p in store.iterdir()} == {"0o600"}  # dumps hold password hashes
    [row] = listed(site)
    assert row["file"] == name and row["present"] is True
    table = site.inv("backups", "--offsite", env={"COLUMNS": "200"})
    assert table.returncode == 0 and name in table.stdout


def test_a_remote_rclone_does_not_know_is_one_line_before_anything_is_taken(offsite):
    site, store = offsite
    site.configure(offsite=f"nosuch:{store}")
    before = sorted(os.listdir(site.root / "backups")) if (site.root / "backups").exists() else []
    result = site.inv("backup", "--offsite")
    line = assert_user_error(result, "rclone on this machine has no remote nosuch:", "rclone.conf", "`rclone config`")
    assert "deploytasks.offsite: nosuch:" in line, line
    after = sorted(os.listdir(site.root / "backups")) if (site.root / "backups").exists() else []
    assert after == before


def test_keep_offsite_prunes_the_oldest_copies_manifest_first(offsite):
    site, store = offsite
    names = [os.path.basename(backup_json(site, "--offsite", "--label", f"n{i}")["path"]) for i in range(3)]
    assert [row["file"] for row in listed(site)] == names[::-1][:2]
    assert not (store / names[0]).exists() and not (store / (names[0] + ".json")).exists()


def test_backup_offsite_config_switch_and_media_archive_travel_together(offsite):
    site, store = offsite
    site.configure(offsite=f"vault:{store}", offsite_config=str(store.parent.parent / "rclone.conf"), backup_offsite=True)
    media = site.root / "media"
    media.mkdir(exist_ok=True)
    (media / "photo.jpg").write_bytes(os.urandom(20_000))
    manifest = backup_json(site, "--media")
    archive = store / manifest["media"]["file"]
    assert sha256_file(archive) == manifest["media"]["sha256"]
    [row] = listed(site)
    assert row["media"]["sha256"] == manifest["media"]["sha256"] and row["present"]


def test_restore_from_offsite_fetches_verified_and_restores(offsite):
    site, store = offsite
    manifest = backup_json(site, "--offsite")
    name = os.path.basename(manifest["path"])
    for path in (site.root / "backups").glob(name + "*"):
        path.unlink()  # the laptop lost its copy
    site.manage("shell", "-c", "from accounts.models import Plan; Plan.objects.all().delete()")
    result = site.inv("restore", "--from-offsite", name, "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "fetched" in result.stdout and "restored" in result.stdout
    assert sha256_file(site.root / "backups" / name) == manifest["sha256"]
    assert not [p for p in (site.root / "backups").iterdir() if p.name.startswith(".offsite-")]


def test_a_tampered_offsite_object_is_refused_and_the_database_untouched(offsite):
    site, store = offsite
    manifest = backup_json(site, "--offsite")
    name = os.path.basename(manifest["path"])
    (site.root / "backups" / name).unlink()
    (site.root / "backups" / (name + ".json")).unlink()
    data = bytearray((store / name).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    (store / name).write_bytes(bytes(data))
    before = sha256_file(site.root / "db.sqlite3")
    assert_user_error(site.inv("restore", "--from-offsite", name, "--yes"), "does not match its manifest's sha256")
    assert sha256_file(site.root / "db.sqlite3") == before
    leftovers = [p.name for p in (site.root / "backups").iterdir() if name in p.name or p.name.startswith(".offsite-")]
    assert leftovers == []


def test_an_unknown_offsite_name_and_bad_settings_are_one_line(offsite):
    site, store = offsite
    assert_user_error(site.inv("restore", "--from-offsite", "nope.sqlite3", "--yes"), "no off-site backup nope.sqlite3")
    site.configure(offsite=":sftp,host=x,pass=secret:/backups")
    assert_user_error(site.inv("backup", "--offsite"), "deploytasks.offsite")
    site.configure(offsite="vault:/x", offsite_from="cloud")
    assert_user_error(site.inv("backups", "--offsite"), "offsite_from")
    site.configure()
    assert_user_error(site.inv("backup", "--offsite"), "set deploytasks.offsite")
    assert not (site.root / "backups").exists() or not [
        p for p in (site.root / "backups").iterdir() if p.name.endswith(".sqlite3")]


def test_inv_and_rclone_both_killed_mid_upload_leave_nothing_listed(offsite, tmp_path):
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests._util import clean_env

    site, store = offsite
    connection = sqlite3.connect(site.root / "db.sqlite3")
    connection.execute("CREATE TABLE ballast (data BLOB)")
    connection.execute("INSERT INTO ballast VALUES (randomblob(8000000))")
    connection.commit()
    connection.close()
    inv = subprocess.Popen([sys.executable, "-m", "invoke", "backup", "--offsite"], cwd=site.root,
                           env=clean_env(RCLONE_BWLIMIT="1M"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    copying = []
    while time.monotonic() < deadline and not copying:
        if any(p.stat().st_size > 0 for p in store.glob(".partial-*")) if store.is_dir() else False:
            copying = rclone_copying(store)
        time.sleep(0.05)
    assert copying, "the upload never started"
    os.kill(inv.pid, signal.SIGKILL)  # the task first: nobody is left to clean up
    for pid in copying:
        os.kill(pid, signal.SIGKILL)
    inv.wait(timeout=30)
    assert list(store.glob(".partial-*"))  # what the dead upload left …
    assert listed(site) == []  # … is not a backup
    manifest = backup_json(site, "--offsite")
    assert [row["file"] for row in listed(site)] == [os.path.basename(manifest["path"])]


def rclone_copying(directory):
    """PIDs of rclone copyto processes writing into `directory` (started by this test's inv)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    words = handle.read().split(b"\0")
            except OSError:
                continue
            if words and words[0].endswith(b"rclone") and b"copyto" in words and any(
                    str(directory).encode() in word for word in words):
                found.append(int(entry))
    return found


def test_a_remote_without_hashes_is_verified_by_downloading_the_copy(migrated_site, tmp_path):
    """rclone's crypt backend (over local) computes no hash of what it stores: the check downloads and hashes it."""
    import subprocess

    site = migrated_site
    password = subprocess.run(["rclone", "obscure", "not-a-real-secret"], capture_output=True, text=True,
                              check=True).stdout.strip()
    conf = tmp_path / "rclone.conf"
    conf.write_text(f"[vault]\ntype = local\n\n[sealed]\ntype = crypt\nremote = vault:{tmp_path / 'sealed'}\n"
                    f"password = {password}\n")
    site.configure(offsite="sealed:mysite", offsite_config=str(conf))
    manifest = backup_json(site, "--offsite")
    assert manifest["offsite"]["verified"] == "sha256 of a download"
    [row] = listed(site)
    assert row["file"] == os.path.basename(manifest["path"]) and row["present"]
    stored = [p for p in (tmp_path / "sealed").rglob("*") if p.is_file()]
    assert len(stored) == 2 and all(manifest["sha256"] not in p.read_bytes().decode(errors="replace") for p in stored)
