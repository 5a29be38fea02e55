"""`fab backup --media` (issue 14 §1, server half): the shared media (MEDIA_ROOT of the live release, a link to
shared/media) archived beside the server's dump, in its manifest, and downloaded verified beside the local copy."""
import json
import os
import tarfile

ADDRESS = "127.0.0.91"


def test_fab_backup_media_archives_the_shared_media_and_downloads_it_verified(deployed, sha256):
    s = deployed
    media = s.path / "shared" / "media"
    (media / "uploads").mkdir(parents=True, exist_ok=True)
    (media / "uploads" / "photo.jpg").write_bytes(os.urandom(50_000))
    (media / "notes.txt").write_text("shared\n")
    run = s.fab("backup", "--media").ok()
    [dump] = [p for p in (s.path / "backups").glob("*.sqlite3")]
    server_manifest = json.loads((s.path / "backups" / (dump.name + ".json")).read_text())
    entry = server_manifest["media"]
    archive = s.path / "backups" / entry["file"]
    assert entry["files"] == 2 and entry["bytes"] == 50_007 and entry["sha256"] == sha256(archive)
    assert entry["media_root"] == str(media)
    with tarfile.open(archive) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == ["notes.txt", "uploads/photo.jpg"]

    local_dir = s.project / "backups" / s.sshd.alias
    local_archive = local_dir / entry["file"]
    assert sha256(local_archive) == entry["sha256"]
    local_manifest = json.loads((local_dir / (dump.name + ".json")).read_text())
    assert local_manifest["media"]["sha256"] == entry["sha256"]
    assert not (local_dir / (entry["file"] + ".json")).exists()  # the archive is no backup of its own
    assert "media" in run.stdout and "Traceback" not in run.stdout
    listed = s.fab("backups", "--json").ok().json()
    assert [b["file"] for b in listed["server"]] == [dump.name]
    assert len(listed["local"]) == 1
    table = s.fab("backups", env={"COLUMNS": "220"}).ok().stdout
    assert f"{entry['size']:,} bytes, 2 files" in " ".join(table.split()), table
