"""`fab backup` / `fab backups` / `fab restore` against the live release's database on the server."""
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat

import pytest

from tests._util import on_disk, sessions_without_zstd

ADDRESS = "127.0.0.5"


@pytest.fixture(scope="module")
def downloaded(deployed):
    """A backup taken with `fab backup --json`, downloaded into the project's backups/<host>/."""
    manifest = deployed.fab("backup", "--json").ok().json()
    return manifest


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_backup_on_the_server_and_a_verified_local_copy(deployed, downloaded, sha256):
    s, manifest = deployed, downloaded
    remote = manifest["path"]
    assert os.path.dirname(remote) == str(s.path / "backups")
    assert mode(remote) == 0o600 and mode(remote + ".json") == 0o600
    assert json.loads(open(remote + ".json").read())["sha256"] == manifest["sha256"] == sha256(remote)
    assert manifest["size"] == os.path.getsize(remote)

    local = manifest["local_path"]
    hosts = {s.sshd.alias, s.sshd.host}  # the name the user typed, or the HostName Fabric resolved it to
    assert os.path.dirname(local) in {str(s.project / "backups" / host) for host in hosts}
    assert sha256(local) == manifest["sha256"]
    assert mode(local) == 0o600
    local_manifest = json.loads(open(local + ".json").read())
    assert local_manifest["sha256"] == manifest["sha256"] and local_manifest["file"] == os.path.basename(remote)
    assert not [name for name in os.listdir(os.path.dirname(local)) if name.endswith(".partial")]
    # a backup reported done is on disk, here and on the server, manifests included (fsynced, not only written)
    assert all(on_disk(path) for path in (local, local + ".json", remote, remote + ".json"))
    # the copy came down compressed (this server has zstd; a Django database's pages compress), and only the
    # command's answer says so: the manifest describes the file, not how it travelled
    assert manifest["sent"]["compression"] == "zstd" and manifest["sent"]["bytes"] < manifest["size"] / 2
    assert "sent" not in local_manifest


def test_backup_without_download_and_the_listing(deployed, downloaded):
    s = deployed
    local_dir = os.path.dirname(downloaded["local_path"])
    local_before = sorted(os.listdir(local_dir))
    manifest = s.fab("backup", "--no-download", "--json").ok().json()
    assert os.path.exists(manifest["path"]) and "local_path" not in manifest
    assert sorted(os.listdir(local_dir)) == local_before

    listing = s.fab("backups", "--json").ok().json()
    server_files = [b["file"] for b in listing["server"]]
    assert manifest["file"] in server_files and downloaded["file"] in server_files
    assert [b["file"] for b in listing["local"]] == [downloaded["file"]]
    assert listing["local_dir"] == local_dir
    table = s.fab("backups").ok().stdout
    assert manifest["file"] in table and downloaded["file"] in table


def test_a_labelled_backup_has_the_word_in_its_name_and_a_bad_label_is_refused(deployed, downloaded):
    """`fab backup --label` as `inv backup --label` (it was `No idea what '--label' is!`)."""
    s = deployed
    manifest = s.fab("backup", "--label", "before-upgrade", "--json").ok().json()
    assert manifest["file"].endswith("-before-upgrade.sqlite3") and os.path.exists(manifest["local_path"])
    backups = s.backups()
    s.fab("backup", "--label", "a b").error("--label must be a letter or digit, then letters, digits, '.', '_' or '-', "
                                             "not 'a b'")
    assert s.backups() == backups


def test_dry_backup_changes_nothing(deployed, downloaded):
    s = deployed
    before, local = s.backups(), os.listdir(os.path.dirname(downloaded["local_path"]))
    assert "dry-run" in s.fab("--dry", "backup").ok().stdout
    assert s.backups() == before
    assert os.listdir(os.path.dirname(downloaded["local_path"])) == local


def test_restore_brings_deleted_rows_back_and_keeps_a_safety_backup(deployed, downloaded):
    s = deployed
    plans = s.query("SELECT id, name FROM accounts_plan ORDER BY id")
    assert plans  # seeded by a data migration
    fingerprint = s.fingerprint()
    s.query("DELETE FROM accounts_plan")
    assert s.query("SELECT count(*) FROM accounts_plan") == [(0,)]
    backups_before = set(s.backups())
    reloaded = s.base / "reloaded"

    run = s.fab("restore", downloaded["local_path"], "--yes", env={"FABRIC_DEPLOYTASKS_RELOAD": f"touch {reloaded}"}).ok()

    assert s.query("SELECT id, name FROM accounts_plan ORDER BY id") == plans
    assert s.fingerprint() == fingerprint
    assert "(renamed into place)" in run.stdout  # nothing held the database open
    assert "integrity_check (run when this machine made it" in run.stdout  # the server's own backup, the same sha256
    sent = re.search(r"zstd on the way, ([\d,]+) of ([\d,]+) bytes sent", run.stdout)  # SQLite pages compress
    assert sent and int(sent[1].replace(",", "")) < int(sent[2].replace(",", "")) / 2, run.stdout
    assert s.query("PRAGMA journal_mode") == [("wal",)]
    assert not os.listdir(s.path / "backups" / "uploaded")  # the upload itself became the live file
    assert not s.lock.exists()  # released by the restore script itself
    assert not [name for name in os.listdir(s.db.parent) if name.endswith("-restoring")]
    assert reloaded.exists()  # the app server was told to pick the restored data up
    [safety] = [b for b in set(s.backups()) - backups_before if b.endswith("pre-restore.sqlite3")]
    assert safety in run.stdout.replace(str(s.path / "backups") + "/", "")
    safety_path = s.path / "backups" / safety
    assert mode(safety_path) == 0o600
    connection = sqlite3.connect(f"file:{safety_path}?mode=ro", uri=True)
    try:
        assert connection.execute("SELECT count(*) FROM accounts_plan").fetchone() == (0,)  # what was replaced
    finally:
        connection.close()


def test_restore_by_name_takes_the_copy_in_backups_host_or_downloads_the_servers_backup_first(deployed, downloaded):
    s = deployed
    manifest = s.fab("backup", "--no-download", "--json").ok().json()
    fingerprint = s.fingerprint()
    s.query("DELETE FROM accounts_plan")
    s.fab("restore", manifest["file"], "--yes").ok()  # as `fab backups` and a migrate's hint name it
    assert s.fingerprint() == fingerprint
    local = os.path.join(os.path.dirname(downloaded["local_path"]), manifest["file"])
    assert os.path.exists(local) and json.load(open(local + ".json"))["sha256"] == manifest["sha256"]

    s.query("DELETE FROM accounts_plan")
    s.fab("restore", downloaded["file"], "--yes").ok()  # a copy already in backups/<host>/
    assert s.query("SELECT count(*) FROM accounts_plan") != [(0,)]

    before, backups = s.state(), s.backups()
    s.fab("restore", "no-such-backup.sqlite3", "--yes").error("no backup no-such-backup.sqlite3 here", "backups` lists them")
    assert s.state() == before and s.backups() == backups


def test_dry_restore_changes_nothing(deployed, downloaded):
    s = deployed
    before, backups = s.state(), s.backups()
    run = s.fab("--dry", "restore", downloaded["local_path"]).ok()
    assert "dry-run" in run.stdout
    assert s.state() == before and s.backups() == backups


def test_restore_asks_for_confirmation_without_a_tty(deployed, downloaded):
    s = deployed
    before, backups = s.state(), s.backups()
    s.fab("restore", downloaded["local_path"]).error("pass --yes")
    assert s.state() == before
    assert s.backups() == backups  # the upload does not stay behind either


def test_restore_is_refused_while_a_deploy_holds_the_lock(deployed, downloaded):
    s = deployed
    s.lock.mkdir()
    (s.lock / "info.json").write_text(json.dumps({"action": "deploy", "who": "alice@laptop", "since": "now"}))
    try:
        before, backups = s.state(), s.backups()
        s.fab("restore", downloaded["local_path"], "--yes").error("is locked", "alice@laptop")
        assert s.state() == dict(before, locked=True)
        assert s.backups() == backups
    finally:
        (s.lock / "info.json").unlink()
        s.lock.rmdir()
    s.fab("restore", downloaded["local_path"], "--yes").ok()
    assert not s.lock.exists()  # a restore releases the lock it took


def test_a_backup_is_refused_while_a_restore_replaces_the_database_and_prunes_nothing(deployed, downloaded):
    """A MySQL restore's load drops and fills table after table, each committed: a backup taken meanwhile held half
    the rows, was reported verified, and its retention removed a whole older backup. A backup while a live
    process's restore holds the lock is refused before anything is dumped or pruned."""
    s = deployed
    backups = sorted(p.name for p in (s.path / "backups").iterdir())
    s.lock.mkdir()
    (s.lock / "info.json").write_text(json.dumps({"action": "restore", "who": "bob@laptop", "since": "2026-12-07T10:00:00Z",
                                                  "pid": os.getpid()}))  # a live holder
    try:
        s.fab("backup").error("a restore is replacing the database on the server (by bob@laptop",
                              "back up once it has ended")
        assert sorted(p.name for p in (s.path / "backups").iterdir()) == backups
    finally:
        (s.lock / "info.json").unlink()
        s.lock.rmdir()
    s.fab("backup").ok()  # the lock free: backups as before


def test_a_restore_whose_project_settings_fail_on_the_server_says_why_and_changes_nothing(deployed, downloaded):
    """The restore's Django, started beside the upload, cannot load the settings: the restore request, run as a
    command of its own, reports the settings' error in one line; the upload is removed and the lock freed."""
    s = deployed
    shared_env = s.path / "shared" / ".env"
    good = shared_env.read_text()
    shared_env.write_text(good + "DATABASE_URL=bogus://nowhere\n")
    try:
        before, backups = s.state(), s.backups()
        s.fab("restore", downloaded["local_path"], "--yes").error("unsupported scheme 'bogus'")
        assert s.state() == before and not s.lock.exists()
        assert [name for name in s.backups() if name != "uploaded"] == [name for name in backups if name != "uploaded"]
        assert not list((s.path / "backups" / "uploaded").iterdir())  # the upload's private directory, empty
        check = s.fab("check", "--live-only", "--json")  # a monitoring script gets a document, not nothing
        check.error("unsupported scheme 'bogus'")
        document = json.loads(check.stdout)
        assert document["ok"] is False and "unsupported scheme 'bogus'" in document["error"], document
    finally:
        shared_env.write_text(good)
    s.fab("restore", downloaded["local_path"], "--yes").ok()


# --- corrupt, truncated or mismatched backups change nothing on the server ------------------------

def copy_backup(downloaded, tmp_path, name="copy.sqlite3"):
    path = tmp_path / name
    shutil.copyfile(downloaded["local_path"], path)
    shutil.copyfile(downloaded["local_path"] + ".json", str(path) + ".json")
    return path


def truncated(downloaded, tmp_path):
    path = copy_backup(downloaded, tmp_path)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    return path, "truncated"


def corrupt(downloaded, tmp_path):
    path = copy_backup(downloaded, tmp_path)
    with open(path, "r+b") as handle:
        handle.seek(os.path.getsize(path) // 2)
        block = handle.read(64)
        handle.seek(-len(block), os.SEEK_CUR)
        handle.write(bytes(b ^ 0xFF for b in block))
    return path, "sha256"


def mismatched(downloaded, tmp_path):
    """A valid backup file beside another backup's manifest."""
    path = copy_backup(downloaded, tmp_path)
    manifest = json.loads(open(str(path) + ".json").read())
    manifest["sha256"] = "0" * 64
    open(str(path) + ".json", "w").write(json.dumps(manifest))
    return path, "sha256"


def not_sqlite(downloaded, tmp_path):
    """Not a database at all, with a manifest that matches it (so it passes the local check)."""
    path = tmp_path / "garbage.sqlite3"
    data = os.urandom(8192)
    path.write_bytes(data)
    manifest = dict(json.loads(open(downloaded["local_path"] + ".json").read()), file=path.name, size=len(data),
                    sha256=hashlib.sha256(data).hexdigest())
    open(str(path) + ".json", "w").write(json.dumps(manifest))
    return path, "not an SQLite database"


def no_manifest(downloaded, tmp_path):
    path = copy_backup(downloaded, tmp_path)
    os.unlink(str(path) + ".json")
    return path, "no manifest"


def missing(downloaded, tmp_path):
    return tmp_path / "nothing-here.sqlite3", "not found"


@pytest.mark.parametrize("make", [truncated, corrupt, mismatched, not_sqlite, no_manifest, missing])
def test_restore_of_a_bad_file_changes_nothing(deployed, downloaded, tmp_path, make):
    s = deployed
    path, message = make(downloaded, tmp_path)
    before, backups = s.state(), s.backups()
    s.fab("restore", str(path), "--yes").error(message)
    assert s.state() == before
    assert s.backups() == backups


def _logins(server):
    return server.sshd.log().count("Accepted publickey for")


def test_download_uses_the_openssh_client_and_falls_back_to_sftp(deployed, sha256):
    """With `ssh` on PATH the copy streams down over one OpenSSH connection; without it, over SFTP."""
    s = deployed
    before = _logins(s)
    fast = s.fab("backup", "--json").ok().json()
    assert _logins(s) - before == 1  # the OpenSSH client only: the copy streams down as the server writes it
    assert sha256(fast["local_path"]) == fast["sha256"]

    before = _logins(s)
    slow = s.fab("backup", "--json", env={"PATH": "/nonexistent"}).ok().json()
    assert _logins(s) - before == 1  # SFTP over Fabric's own connection
    assert sha256(slow["local_path"]) == slow["sha256"]


def test_a_damaged_live_database_fails_mid_stream_and_leaves_no_copy(deployed, downloaded):
    """integrity_check runs while the copy streams down: when it fails, the partial local file and the
    server's copy are removed and the error is one line."""
    s = deployed
    local_dir = os.path.dirname(downloaded["local_path"])
    local_before, server_before = sorted(os.listdir(local_dir)), s.backups()
    saved = s.db.read_bytes()
    try:
        assert s.query("PRAGMA wal_checkpoint(TRUNCATE)")[0][0] == 0
        damaged = bytearray(s.db.read_bytes())
        page = len(damaged) // 4096 // 2  # a B-tree page in the middle; sqlite_master (page 1) stays readable
        damaged[page * 4096:(page + 1) * 4096] = b"\xff" * 4096
        s.db.write_bytes(bytes(damaged))
        s.fab("backup").error("integrity check", "may be damaged")
        assert sorted(os.listdir(local_dir)) == local_before  # neither the copy nor a .partial/.incoming file
        assert s.backups() == server_before
    finally:
        s.db.write_bytes(saved)
    assert s.query("PRAGMA integrity_check") == [("ok",)]


@pytest.fixture
def server_without_zstd(deployed, tmp_path):
    """A server without zstd (see sessions_without_zstd)."""
    with sessions_without_zstd(deployed.sshd, tmp_path):
        yield deployed


def test_a_server_without_zstd_sends_and_takes_the_copy_as_it_is(server_without_zstd, sha256):
    s = server_without_zstd
    manifest = s.fab("backup", "--json").ok().json()
    assert "sent" not in manifest and sha256(manifest["local_path"]) == manifest["sha256"]
    plans = s.query("SELECT id, name FROM accounts_plan ORDER BY id")
    s.query("DELETE FROM accounts_plan")
    run = s.fab("restore", manifest["local_path"], "--yes").ok()  # the compressed upload is refused, sent again
    assert "on the way" not in run.stdout
    assert s.query("SELECT id, name FROM accounts_plan ORDER BY id") == plans
    assert not os.listdir(s.path / "backups" / "uploaded")


def test_compress_transfers_false_sends_files_as_they_are(deployed, sha256):
    s = deployed
    plain = {"FABRIC_DEPLOYTASKS_COMPRESS_TRANSFERS": "false"}
    manifest = s.fab("backup", "--json", env=plain).ok().json()
    assert "sent" not in manifest and sha256(manifest["local_path"]) == manifest["sha256"]
    run = s.fab("restore", manifest["local_path"], "--yes", env=plain).ok()
    assert "on the way" not in run.stdout


def test_a_restore_behind_the_live_code_says_the_site_fails_until_migrated_and_migrate_applies_it(deployed, downloaded):
    """(Last: it deploys a migration.) The live code is one migration ahead of the backup restored: a warning that
    the site fails until the migrations are applied; `--migrate` applies them at once, with the live code."""
    s = deployed
    s.repo.add_model("Later")
    s.fab("deploy").ok()
    run = s.fab("restore", downloaded["local_path"], "--yes").ok()
    assert "WARN the restored data is behind the code in accounts: the site fails where it uses what the missing " \
           "migrations make until they are applied: `fab -H testhost migrate` now (`restore --migrate` applies " \
           "them at once)" in " ".join(run.stdout.split()), run.stdout
    assert "accounts_later" not in s.tables()
    check = s.fab("check", "--live-only")  # the code that serves needs what the restored data lacks: a FAIL
    check.error("the checklist has failures in live release")
    assert "the live code needs them, `fab migrate` applies them" in " ".join(check.stdout.split()), check.stdout
    run = s.fab("restore", downloaded["local_path"], "--yes", "--migrate").ok()
    assert "✓ migrated the restored data to the code: 1 applied" in run.stdout, run.stdout
    assert "accounts_later" in s.tables() and not s.lock.exists()


def test_fab_migrate_waits_for_no_lock_backs_up_first_and_is_logged(deployed, downloaded):
    """(After the test above: the live code is one migration ahead of `downloaded`.) `fab migrate` is refused while
    a deploy holds the lock; then it backs up, applies the migration and leaves a releases.log entry."""
    s = deployed
    s.fab("restore", downloaded["local_path"], "--yes").ok()
    assert "accounts_later" not in s.tables()
    s.lock.mkdir()
    (s.lock / "info.json").write_text(json.dumps({"action": "deploy", "who": "alice@laptop", "since": "now"}))
    try:
        s.fab("migrate").error("is locked", "alice@laptop")
        assert "accounts_later" not in s.tables()
    finally:
        (s.lock / "info.json").unlink()
        s.lock.rmdir()
    backups = set(s.backups())
    run = s.fab("migrate").ok()
    [backup] = [name for name in set(s.backups()) - backups if not name.endswith(".json")]
    assert "pre-migrate" in backup and f"fab -H testhost restore {backup}" in run.stdout, run.stdout
    assert "1 applied" in run.stdout and "accounts_later" in s.tables() and not s.lock.exists()
    entry = s.log()[-1]
    migration = f"accounts.{s.repo.latest_migration()}"
    assert (entry["action"], entry["result"], entry["migrations"]) == ("migrate", "ok", [migration])
    assert entry["backup"].endswith(backup) and entry["live"] == s.current_name()
    again = s.fab("migrate").ok()
    assert "no migrations to apply" in again.stdout and set(s.backups()) == backups | {backup, backup + ".json"}


def test_fab_history_lists_deploys_restores_and_migrations_newest_first(deployed, downloaded):
    """(After the tests above.) releases.log holds restores and migrations beside deploys, failed ones too, and
    `fab history` shows them."""
    s = deployed
    entries = s.fab("history", "--json").ok().json()["entries"]
    assert [e["action"] for e in entries[:3]] == ["migrate", "migrate", "restore"], entries[:3]
    assert any(e["action"] == "deploy" and e["result"] == "ok" for e in entries), entries
    assert entries[0]["migrations"] == [] and entries[1]["migrations"] and entries[1]["backup"]
    restored = entries[2]
    assert restored["result"] == "ok" and restored["file"] == os.path.basename(downloaded["local_path"])
    assert restored["safety_backup"] and restored["by"] and not restored["media"]
    failed = [e for e in entries if e["action"] == "restore" and e["result"] == "failed"]
    assert failed and failed[0]["error"], entries  # the restore whose settings failed on the server
    table = s.fab("history", "--last", "3", env={"COLUMNS": "220"}).ok().stdout
    assert table.count(" migrate ") == 2 and " restore " in table and " deploy " not in table, table
    s.fab("history", "--last", "many").error("--last must be a whole number above 0, not 'many'")


def test_a_restore_ahead_of_the_live_code_shows_where_the_backup_is_and_warns(deployed, downloaded):
    """(After the migrations' tests: it deploys one.) A backup taken under a release with one more migration,
    restored once that release was rolled back: the
    table said the backup was at the code's latest migration and nothing warned (the live code over a newer
    schema). The table shows the backup's own latest, and a WARN names it."""
    s = deployed
    s.repo.add_model("Ahead")
    s.fab("deploy").ok()
    ahead = s.fab("backup", "--json").ok().json()
    s.fab("rollback", "--yes").ok()
    run = s.fab("restore", ahead["local_path"], "--yes").ok()
    [row] = [line for line in run.stdout.splitlines() if line.startswith("│ accounts")]
    migration = [name for name in ahead["migrations"]["accounts"]][-1]
    assert f"{migration} (unknown)" in row and "1 unknown to this code" in row, run.stdout
    assert (f"WARN the restored data records migrations this code does not have (accounts.{migration})"
            in " ".join(run.stdout.split())), run.stdout
    s.fab("deploy").ok()  # the release with that migration again: code and schema agree
