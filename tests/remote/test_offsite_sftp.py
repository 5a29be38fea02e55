"""`fab backup --offsite`, `fab backups --offsite`, `fab restore --from-offsite` (issue 14 §2) against a real remote:
rclone's SFTP backend talking to a second throwaway sshd (the off-site store), from the laptop and from the server.
Includes an upload killed mid-transfer (nothing listed, nothing left) and a tampered object (restore refuses)."""
import json
import os
import signal

import pytest

from tests.sshd import SSHServer

ADDRESS = "127.0.0.100"
STORE_ADDRESS = "127.0.0.101"


@pytest.fixture(scope="module")
def store(deployed, tmp_path_factory):
    """The off-site store: an sshd of its own, and an rclone.conf naming it `offsite` (key, known_hosts in the file)."""
    base = tmp_path_factory.mktemp("offsite-store")
    with SSHServer(base / "sshd", host=STORE_ADDRESS) as sshd:
        conf = base / "rclone.conf"
        conf.write_text(
            "[offsite]\ntype = sftp\n"
            f"host = {sshd.host}\nport = {sshd.port}\nuser = {sshd.user}\n"
            f"key_file = {sshd.client_key}\nknown_hosts_file = {sshd.known_hosts}\n"
            "shell_type = unix\nmd5sum_command = md5sum\nsha1sum_command = sha1sum\n")
        os.chmod(conf, 0o600)
        directory = base / "objects" / "mysite"
        deployed.configure(offsite=f"offsite:{directory}", offsite_config=str(conf), keep_offsite=3)
        yield directory, sshd
    deployed.configure(offsite="", offsite_config="", offsite_from="local")


def listed(s):
    return s.fab("backups", "--offsite", "--json").ok().json()["backups"]


def test_fab_backup_offsite_from_the_laptop_lands_verified_on_the_sftp_store(deployed, store, sha256, argv_watch):
    s = deployed
    directory, sshd = store
    with argv_watch() as seen:
        manifest = s.fab("backup", "--offsite", "--json").ok().json()
    name = manifest["file"]
    assert manifest["offsite"]["verified"] == "sha1 on the remote"  # sha1sum run by the store over ssh
    assert sha256(directory / name) == manifest["sha256"]
    assert json.loads((directory / (name + ".json")).read_text())["sha256"] == manifest["sha256"]
    assert name in [row["file"] for row in listed(s)]
    assert not [line for line in seen if "rclone" in line and str(sshd.client_key) in line]  # only in rclone.conf
    assert name in " ".join(s.fab("backups", "--offsite", env={"COLUMNS": "220"}).ok().stdout.split())


def test_fab_backup_offsite_from_the_server_runs_rclone_there(deployed, store, sha256):
    s = deployed
    directory, _ = store
    s.configure(offsite_from="server")
    try:
        manifest = s.fab("backup", "--offsite", "--no-download", "--json").ok().json()
    finally:
        s.configure(offsite_from="local")
    assert "local_path" not in manifest
    assert sha256(directory / manifest["file"]) == manifest["sha256"]
    assert manifest["file"] in [row["file"] for row in listed(s)]


def test_an_upload_killed_mid_transfer_leaves_nothing_listed(deployed, store, waiter):
    s = deployed
    directory, _ = store
    s.query("CREATE TABLE IF NOT EXISTS ballast (data BLOB)")
    s.query("INSERT INTO ballast VALUES (randomblob(12000000))")
    before = [row["file"] for row in listed(s)]
    try:
        fab = s.fab_background("backup", "--offsite", env={"RCLONE_BWLIMIT": "1M"})  # slow enough to be caught
        assert waiter(lambda: any(p.name.startswith(".partial-") and p.stat().st_size > 0
                                  for p in directory.glob(".partial-*")), timeout=120)
        [pid] = rclone_copying(directory)
        os.kill(pid, signal.SIGKILL)
        out, err = fab.communicate(timeout=120)
    finally:
        s.query("DROP TABLE IF EXISTS ballast")
    assert fab.returncode == 1 and "uploading" in err and "Traceback" not in out + err, err
    assert [row["file"] for row in listed(s)] == before
    assert not list(directory.glob(".partial-*"))
    assert sorted(p.name for p in directory.iterdir() if not p.name.endswith(".json")) == sorted(before)


def rclone_copying(directory):
    """PIDs of the rclone copyto processes writing into `directory` (the ones this test's fab started)."""
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


def test_restore_from_offsite_fetches_through_the_server_and_restores(deployed, store):
    s = deployed
    s.configure(offsite_from="server")
    try:
        name = s.fab("backup", "--offsite", "--json").ok().json()["file"]
        for path in (s.project / "backups" / s.sshd.alias).glob(name + "*"):
            path.unlink()
        s.query("DELETE FROM accounts_plan")
        run = s.fab("restore", "--from-offsite", name, "--yes").ok()
    finally:
        s.configure(offsite_from="local")
    assert "fetched" in run.stdout and "restored" in run.stdout
    assert s.query("SELECT count(*) FROM accounts_plan")[0][0] > 0
    assert not (s.path / "backups" / "offsite-fetched").exists()
    assert not s.lock.exists()


def test_a_tampered_offsite_object_is_refused_and_the_server_untouched(deployed, store):
    s = deployed
    directory, _ = store
    name = s.fab("backup", "--offsite", "--json").ok().json()["file"]
    data = bytearray((directory / name).read_bytes())
    data[100] ^= 0xFF
    (directory / name).write_bytes(bytes(data))
    for path in (s.project / "backups" / s.sshd.alias).glob(name + "*"):
        path.unlink()
    before = s.state()
    s.fab("restore", "--from-offsite", name, "--yes").error("does not match its manifest's sha256")
    assert s.state() == before
    assert not list((s.project / "backups" / s.sshd.alias).glob(name + "*"))
