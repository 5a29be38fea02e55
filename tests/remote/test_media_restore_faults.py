"""`fab restore --media` under faults: the database and the media are restored together by the server's restore
process, or neither is (the client killed at the swap, Ctrl-C during the media's upload, a media swap that fails)."""
import os
import subprocess

from tests.remote import faults

ADDRESS = "127.0.0.201"


def tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def backed_up_with_media(s, megabytes=1):
    """A `fab backup --media` of the shared media (a photo of `megabytes`), then a media change and a new table
    after it: (the local backup, the media as archived, the media as replaced)."""
    s.query("DROP TABLE IF EXISTS after_backup")
    media = s.path / "shared" / "media"
    (media / "uploads").mkdir(parents=True, exist_ok=True)
    for name in os.listdir(media):
        if name != "uploads":
            os.unlink(media / name)
    (media / "uploads" / "photo.jpg").write_bytes(os.urandom(megabytes << 20))
    s.fab("backup", "--media").ok()
    local = max((s.project / "backups" / s.sshd.alias).glob("*.sqlite3"), key=lambda p: p.stat().st_mtime_ns)
    archived = tree(media)
    (media / "uploads" / "photo.jpg").unlink()
    (media / "after-backup.txt").write_text("uploaded later\n")
    s.query("CREATE TABLE after_backup (id INTEGER)")
    return local, archived, tree(media)


def tables(s):
    return {name for (name,) in s.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def staged(s):
    return [p.name for p in (s.path / "shared").iterdir() if ".restoring-" in p.name]


def test_a_client_killed_once_the_database_is_restored_still_gets_the_media_restored(deployed):
    """The server's restore process swaps the media right after the database: fab SIGKILLed as soon as the safety
    backup appears (the database swapped) leaves both restored, not the database alone."""
    s = deployed
    local, archived, _ = backed_up_with_media(s)
    (s.path / "shared" / "media.restoring-4194303").mkdir()  # a killed restore's extraction: the next one removes it
    backups = s.path / "backups"
    outcome = faults.inject(s, ("restore", str(local), "--media", "--yes"),
                            lambda: any(backups.glob("*pre-restore*")), "kill-fab", point_timeout=120)
    assert faults.wait_gone(outcome.server_pids, timeout=60)
    assert "after_backup" not in tables(s)
    assert tree(s.path / "shared" / "media") == archived
    assert not staged(s) and not s.lock.exists()


def test_ctrl_c_during_the_media_upload_restores_nothing(deployed):
    s = deployed
    local, _, replaced = backed_up_with_media(s, megabytes=120)
    uploaded = s.path / "backups" / "uploaded"
    outcome = faults.inject(s, ("restore", str(local), "--media", "--yes"),
                            lambda: any(uploaded.glob("*.media.tar.partial")), "sigint", point_timeout=120)
    assert faults.wait_gone(outcome.server_pids, timeout=60)
    run = outcome.run
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "interrupted (Ctrl-C) during the upload" in run.stderr and "nothing was restored" in run.stderr, run.stderr
    assert "after_backup" in tables(s)
    assert tree(s.path / "shared" / "media") == replaced
    assert not staged(s) and not s.lock.exists()
    assert not uploaded.exists() or not list(uploaded.iterdir())


def test_a_media_swap_that_fails_says_the_database_was_restored_and_leaves_no_staged_copy(deployed):
    s = deployed
    local, _, replaced = backed_up_with_media(s)
    media = s.path / "shared" / "media"
    subprocess.run(["chattr", "+i", str(media)], check=True)  # as a full or read-only disk refuses the rename
    try:
        run = s.fab("restore", str(local), "--media", "--yes")
    finally:
        subprocess.run(["chattr", "-i", str(media)], check=True)
    line = run.error("the database was restored", "swapping the media", "the media stays as it was")
    assert "restore" in line and local.name in line, line
    assert "after_backup" not in tables(s)
    assert tree(media) == replaced
    assert not staged(s) and not s.lock.exists()
    entry = s.log()[-1]
    assert (entry["action"], entry["result"]) == ("restore", "failed") and "media was not swapped" in entry["error"]
