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
    assert dump.name in s.fab("backups").ok().stdout  # at the default width the name stays whole
    table = s.fab("backups", env={"COLUMNS": "220"}).ok().stdout
    assert f"{entry['size']:,} bytes, 2 files" in " ".join(table.split()), table


def tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fab_restore_media_puts_the_archived_media_back_and_keeps_the_replaced(deployed):
    s = deployed
    media = s.path / "shared" / "media"
    (media / "uploads").mkdir(parents=True, exist_ok=True)
    (media / "uploads" / "kept.bin").write_bytes(os.urandom(3000))
    s.fab("backup", "--media").ok()
    local_dir = s.project / "backups" / s.sshd.alias
    [local] = sorted(p for p in local_dir.glob("*.sqlite3"))[-1:]
    archived = tree(media)
    (media / "uploads" / "kept.bin").unlink()
    (media / "after-backup.txt").write_text("uploaded later\n")
    replaced = tree(media)

    run = s.fab("restore", str(local), "--media", "--yes").ok()
    assert tree(media) == archived
    [safety] = [p for p in media.parent.iterdir() if p.name.startswith("media.before-restore-")]
    assert tree(safety) == replaced
    assert "restored media" in run.stdout
    assert not [p for p in media.parent.iterdir() if ".restoring-" in p.name]
    uploaded = s.path / "backups" / "uploaded"
    assert not uploaded.exists() or not list(uploaded.iterdir())
    assert (s.path / "current" / "media").resolve() == media
    assert not s.lock.exists()


def test_fab_restore_media_of_a_backup_without_media_is_refused_before_anything_moves(deployed):
    s = deployed
    s.fab("backup").ok()
    local_dir = s.project / "backups" / s.sshd.alias
    newest = max(local_dir.glob("*.sqlite3"), key=lambda p: p.stat().st_mtime_ns)
    before = s.state()
    s.fab("restore", str(newest), "--media", "--yes").error("has no media archive", "backup --media")
    assert s.state() == before


def test_a_media_archive_that_does_not_fit_takes_its_database_backup_with_it(deployed):
    """`fab backup --media` is both or neither: the server's backups on a 1 MiB filesystem hold the dump, not the
    media archive; the error says so, and neither side keeps the dump without its media."""
    import subprocess
    import time

    s = deployed
    media = s.path / "shared" / "media"
    media.mkdir(parents=True, exist_ok=True)
    (media / "big.bin").write_bytes(os.urandom(3 << 20))
    backups, local_dir = s.path / "backups", s.project / "backups" / s.sshd.alias
    local_before = sorted(p.name for p in local_dir.iterdir()) if local_dir.exists() else []
    time.sleep(1)  # the tmpfs hides the server's backups: a name of this second could be an earlier test's
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(backups)], check=True)
    try:
        line = s.fab("backup", "--media").error("archiving MEDIA_ROOT", "No space left on device",
                                                "the database backup taken with it was removed")
        assert not [p.name for p in backups.iterdir() if not p.name.startswith(".")], line
    finally:
        subprocess.run(["umount", str(backups)], check=True)
        (media / "big.bin").unlink()
    assert sorted(p.name for p in local_dir.iterdir()) == local_before
