"""`fab backup --media --offsite` and `fab restore --from-offsite NAME --media` (issue 14 §2 with §1's media archive),
keep_offsite and the checks made before anything is taken; rclone's `local` backend as the off-site store (the SFTP
backend against a real second sshd: test_offsite_sftp.py)."""
import json
import os

import pytest

ADDRESS = "127.0.0.103"


@pytest.fixture
def vault(deployed, tmp_path):
    conf = tmp_path / "rclone.conf"
    conf.write_text("[vault]\ntype = local\n")
    store = tmp_path / "vault"
    deployed.configure(offsite=f"vault:{store}", offsite_config=str(conf), keep_offsite=2)
    yield store
    deployed.configure(offsite="", offsite_config="", keep_offsite=10, offsite_from="local")


def tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_media_travels_off_site_and_comes_back_with_the_database(deployed, vault, sha256):
    s = deployed
    media = s.path / "shared" / "media"
    (media / "uploads").mkdir(parents=True, exist_ok=True)
    (media / "uploads" / "photo.jpg").write_bytes(os.urandom(40_000))
    manifest = s.fab("backup", "--media", "--offsite", "--json").ok().json()
    archive = manifest["media"]["file"]
    assert sha256(vault / archive) == manifest["media"]["sha256"]
    stored = json.loads((vault / (manifest["file"] + ".json")).read_text())
    assert stored["media"]["sha256"] == manifest["media"]["sha256"] and "path" not in stored["media"]
    archived = tree(media)

    for path in (s.project / "backups" / s.sshd.alias).glob(manifest["file"] + "*"):
        path.unlink()
    (media / "uploads" / "photo.jpg").unlink()
    (media / "later.txt").write_text("after the backup\n")
    run = s.fab("restore", "--from-offsite", manifest["file"], "--media", "--yes").ok()
    assert "restored media" in run.stdout
    assert tree(media) == archived
    assert not s.lock.exists()


def test_keep_offsite_applies_to_fab_backups(deployed, vault):
    s = deployed
    names = [s.fab("backup", "--offsite", "--json").ok().json()["file"] for _ in range(3)]
    listed = [row["file"] for row in s.fab("backups", "--offsite", "--json").ok().json()["backups"]]
    assert listed == names[::-1][:2]


def test_offsite_checks_come_before_any_backup(deployed, vault):
    s = deployed
    before = s.backups()
    s.fab("backup", "--offsite", "--no-download").error("--no-download", "offsite_from: server")
    s.configure(offsite="/not/a/remote")
    s.fab("backup", "--offsite").error("deploytasks.offsite")
    s.configure(offsite=f"vault:{vault}")
    s.fab("backup", "--offsite", env={"PATH": "/nonexistent-bin"}).error("rclone is not installed")
    assert s.backups() == before


def test_from_the_server_the_media_archive_goes_from_the_servers_copy_and_comes_back(deployed, vault, sha256):
    s = deployed
    s.configure(offsite_from="server")
    media = s.path / "shared" / "media"
    (media / "uploads").mkdir(parents=True, exist_ok=True)
    (media / "uploads" / "server.bin").write_bytes(os.urandom(10_000))
    try:
        manifest = s.fab("backup", "--media", "--offsite", "--no-download", "--json").ok().json()
        assert sha256(vault / manifest["media"]["file"]) == manifest["media"]["sha256"]
        archived = tree(media)
        (media / "uploads" / "server.bin").unlink()
        s.fab("restore", "--from-offsite", manifest["file"], "--media", "--yes").ok()
    finally:
        s.configure(offsite_from="local")
    assert tree(media) == archived
    assert not (s.path / "backups" / "offsite-fetched").exists()
