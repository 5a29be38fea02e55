"""`inv backup`, `inv backups` and `inv restore` on real SQLite databases, including a concurrent writer."""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from tests._util import (CommitWriter, Site, assert_user_error, backup_json, backup_names, clean_env, copy_example,
                         ctrl_c_reaches_it, sqlite_fingerprint, sqlite_insert, sqlite_rows, sqlite_tokens, write_sql)

WRITER = r'''
import os, sqlite3, sys, time
db, stop = sys.argv[1], sys.argv[2]
connection = sqlite3.connect(db, timeout=60, isolation_level=None)
batch = 0
while not os.path.exists(stop):
    batch += 1
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany("INSERT INTO writer_rows (batch, n) VALUES (?, ?)", [(batch, n) for n in range(10)])
    connection.execute("COMMIT")
    time.sleep(0.01)
connection.close()
print(batch)
'''


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def sha256_of_file(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def plan_count(site):
    return site.query("SELECT count(*) FROM accounts_plan")[0][0]


def test_backup_is_private_verified_and_fully_described(migrated_site):
    site = migrated_site
    manifest = backup_json(site)
    dump = site.root / "backups" / manifest["file"]
    manifest_file = site.root / "backups" / (manifest["file"] + ".json")
    assert manifest["path"] == str(dump)
    assert mode(dump) == 0o600 and mode(manifest_file) == 0o600
    assert mode(site.root / "backups") == 0o700
    assert backup_names(site) == [manifest["file"]]  # no .partial or .tmp left behind
    assert sorted(os.listdir(site.root / "backups")) == [".gitignore", ".read-back-sha256", manifest["file"],
                                                         manifest["file"] + ".json"]

    on_disk = json.loads(manifest_file.read_text())
    assert on_disk["engine"] == "sqlite"
    assert on_disk["database"] == str(site.db)
    assert time.strptime(on_disk["created"], "%Y-%m-%dT%H:%M:%SZ")
    assert on_disk["size"] == dump.stat().st_size
    assert on_disk["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert len(on_disk["migrations"]["accounts"]) == 16
    assert on_disk["migrations"]["accounts"][-1] == "0016_seed_default_plans_and_settings"
    assert sum(len(names) for names in on_disk["migrations"].values()) == 34
    assert on_disk["tool"].startswith("deploytasks ")
    assert on_disk["verified"] == "PRAGMA integrity_check"

    assert sqlite_rows(dump, "PRAGMA integrity_check") == [("ok",)]
    assert sqlite_rows(dump, "PRAGMA journal_mode") == [("delete",)]  # self-contained: no -wal needed
    assert sqlite_fingerprint(dump) == site.fingerprint()


def test_keep_prunes_the_oldest_and_backups_lists_the_rest(migrated_site):
    site = migrated_site
    empty = site.inv("backups")
    assert empty.returncode == 0, empty.stderr
    assert "No backups in" in empty.stdout

    for label in ("one", "two", "three"):
        backup_json(site, "--label", label)
    result = site.inv("backup", "--keep", "2", "--label", "four")
    assert result.returncode == 0, result.stderr
    assert "removed 2 old backup(s)" in result.stdout
    names = backup_names(site)
    [four] = [name for name in names if name.endswith("-four.sqlite3")]
    [three] = [name for name in names if name.endswith("-three.sqlite3")]
    assert names == sorted([three, four]), names  # the two newest, even when taken within one second
    assert len(os.listdir(site.root / "backups")) == 6  # the manifests went with their dumps (+ .gitignore and the
                                                        # record of what integrity_check passed, .read-back-sha256)

    listed = json.loads(site.inv("backups", "--json", "--verify").stdout)["backups"]
    assert [os.path.basename(b["path"]) for b in listed] == [four, three]  # newest first
    assert all(b["sha256_ok"] and b["present"] for b in listed)
    assert {b["engine"] for b in listed} == {"sqlite"}

    table = site.inv("backups", "--verify")
    assert table.returncode == 0, table.stderr
    for name in names:  # full names: they are what `inv restore` takes
        assert name in table.stdout, table.stdout
    assert table.stdout.count(" ok ") == 2

    damaged = site.root / "backups" / three
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    rows = {line.split("│")[1].strip(): line for line in site.inv("backups", "--verify").stdout.splitlines()
            if line.startswith("│")}
    assert "MISMATCH" in rows[three] and " ok " in rows[four]


def test_backups_under_a_concurrent_writer_are_consistent(migrated_site, tmp_path):
    site = migrated_site
    assert site.query("PRAGMA journal_mode") == [("wal",)]
    write_sql(site, "CREATE TABLE writer_rows (batch INTEGER, n INTEGER)")
    script, stop = tmp_path / "writer.py", tmp_path / "stop"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script), str(site.db), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while site.query("SELECT count(*) FROM writer_rows")[0][0] == 0:
            assert writer.poll() is None and time.monotonic() < deadline, writer.communicate()
            time.sleep(0.05)
        manifests = [backup_json(site, "--keep", "0") for _ in range(4)]
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    batches = int(out)
    assert site.query("SELECT count(*) FROM writer_rows") == [(batches * 10,)]

    counts = []
    for manifest in manifests:
        dump = manifest["path"]
        assert sqlite_rows(dump, "PRAGMA integrity_check") == [("ok",)]
        (count, top), = sqlite_rows(dump, "SELECT count(*), coalesce(max(batch), 0) FROM writer_rows")
        assert count % 10 == 0, (dump, count)
        assert count == top * 10  # whole transactions 1..top, none torn, none missing
        assert sqlite_rows(dump, "SELECT batch FROM writer_rows GROUP BY batch HAVING count(*) != 10") == []
        assert manifest["sha256"] == hashlib.sha256(open(dump, "rb").read()).hexdigest()
        counts.append(count)
    assert max(counts) > 0
    assert counts == sorted(counts)  # taken one after another while the writer kept going
    assert counts[-1] <= batches * 10


def test_restore_brings_the_data_back_and_keeps_a_safety_backup(migrated_site):
    site = migrated_site
    manifest = backup_json(site, "--label", "good")
    original = site.fingerprint()
    write_sql(site, "DELETE FROM accounts_plan")
    assert plan_count(site) == 0
    changed = site.fingerprint()

    result = site.inv("restore", manifest["file"], "--yes")  # a bare name is looked up in backups/
    assert result.returncode == 0, result.stderr + result.stdout
    assert "verified" in result.stdout and "matches its manifest" in result.stdout
    assert f"restored {manifest['path']}" in result.stdout
    assert plan_count(site) == 3
    assert site.fingerprint() == original
    assert site.query("PRAGMA journal_mode") == [("wal",)]
    assert site.query("PRAGMA integrity_check") == [("ok",)]

    [safety] = [name for name in backup_names(site) if name.endswith("-pre-restore.sqlite3")]
    assert f"safety backup of what was there: {site.root / 'backups' / safety}" in result.stdout
    safety_path = site.root / "backups" / safety
    assert sqlite_rows(safety_path, "SELECT count(*) FROM accounts_plan") == [(0,)]
    assert sqlite_fingerprint(safety_path) == changed
    assert (site.root / "backups" / (safety + ".json")).exists()


def test_a_backup_this_machine_checked_is_not_checked_again_when_restored(migrated_site):
    """Its sha256 is in backups/.read-back-sha256: integrity_check passed on the very bytes when it was made. Without
    that record (another machine's backup, or the record gone) the restore runs integrity_check again; a manifest
    edited to a remembered sha256 does not vouch for other bytes."""
    site = migrated_site
    manifest = backup_json(site, "--label", "checked")
    listed = site.root / "backups" / ".read-back-sha256"
    assert listed.read_text().split() == [manifest["sha256"]] and mode(listed) == 0o600
    for case in ("remembered", "forgotten"):
        if case == "forgotten":
            listed.write_text("")
        write_sql(site, "DELETE FROM accounts_plan")
        restore = site.inv("restore", manifest["file"], "--yes")
        assert restore.returncode == 0, restore.stderr + restore.stdout
        assert ("integrity_check (run when this machine made it" in restore.stdout) == (case == "remembered"), \
            restore.stdout
        assert plan_count(site) == 3
    assert listed.read_text().split() == []  # safety backups (sha256 only) are not in the record

    listed.write_text(manifest["sha256"] + "\n")
    write_sql(site, "DELETE FROM accounts_plan WHERE id = (SELECT min(id) FROM accounts_plan)")
    other = backup_json(site, "--label", "other")
    other_manifest = site.root / "backups" / (other["file"] + ".json")
    edited = json.loads(other_manifest.read_text())
    assert edited["sha256"] != manifest["sha256"]
    edited["sha256"] = manifest["sha256"]
    other_manifest.write_text(json.dumps(edited))
    before = site.fingerprint()
    refused = site.inv("restore", other["file"], "--yes")
    assert refused.returncode == 1 and "does not match its manifest's sha256" in refused.stderr, refused.stderr
    assert site.fingerprint() == before


def test_restore_reports_migrations_the_restored_data_lacks(migrated_site):
    site = migrated_site
    back = site.manage("migrate", "accounts", "0010")
    assert back.returncode == 0, back.stderr
    old = backup_json(site, "--label", "at0010")
    assert len(old["migrations"]["accounts"]) == 10
    forwards = site.inv("migrate")
    assert forwards.returncode == 0, forwards.stderr

    result = site.inv("restore", old["path"], "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    [row] = [line for line in result.stdout.splitlines() if line.startswith("│ accounts")]
    assert "0010_plan_slug" in row and "6 to apply" in row
    assert "WARN the restored data is behind the code in accounts: apply them: `inv migrate` now " \
           "(`restore --migrate` applies them at once)" in " ".join(result.stdout.split()), result.stdout
    assert site.query("SELECT count(*) FROM django_migrations WHERE app = 'accounts'") == [(10,)]
    migrated = site.inv("restore", old["path"], "--yes", "--migrate")
    assert migrated.returncode == 0, migrated.stderr + migrated.stdout
    assert "✓ migrated the restored data to the code: 6 applied" in migrated.stdout, migrated.stdout
    assert site.query("SELECT count(*) FROM django_migrations WHERE app = 'accounts'") == [(16,)]


def test_restore_without_yes_and_without_tty_refuses(migrated_site):
    site = migrated_site
    manifest = backup_json(site)
    write_sql(site, "DELETE FROM accounts_plan")
    before = site.fingerprint()
    result = site.inv("restore", manifest["path"])
    assert_user_error(result, "refusing without confirmation", "--yes")
    assert site.fingerprint() == before and plan_count(site) == 0
    assert backup_names(site) == [manifest["file"]]  # no safety backup either


def test_dry_backup_and_dry_restore_change_nothing(migrated_site):
    site = migrated_site
    dry_backup = site.inv("--dry", "backup")
    assert dry_backup.returncode == 0, dry_backup.stderr
    assert "dry-run:" in dry_backup.stdout and "back up the 'default' database" in dry_backup.stdout
    assert not (site.root / "backups").exists()

    manifest = backup_json(site)
    write_sql(site, "DELETE FROM accounts_plan")
    before = site.fingerprint()
    dry_restore = site.inv("--dry", "restore", manifest["path"], "--yes")
    assert dry_restore.returncode == 0, dry_restore.stderr + dry_restore.stdout
    assert "dry-run:" in dry_restore.stdout and f"restore {manifest['path']}" in dry_restore.stdout
    assert site.fingerprint() == before and plan_count(site) == 0
    assert backup_names(site) == [manifest["file"]]


def test_restore_into_a_site_without_a_database(migrated_site, tmp_path):
    """A backup from one copy restored where no database exists yet (no safety backup needed)."""
    manifest = backup_json(migrated_site)
    fresh = Site(copy_example(tmp_path / "fresh"), migrated_site.venv)
    result = fresh.inv("restore", manifest["path"], "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert fresh.fingerprint() == migrated_site.fingerprint()
    assert backup_names(fresh) == []


HOLDER = r'''
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=30)
connection.execute("SELECT count(*) FROM accounts_plan").fetchone()
print("ready", flush=True)
sys.stdin.readline()  # idle, database open, until told to look again
print(connection.execute("SELECT count(*) FROM accounts_plan").fetchone()[0], flush=True)
'''


def test_restore_renames_a_staged_copy_into_place_keeping_mode_and_wal(migrated_site):
    site = migrated_site
    manifest = backup_json(site)
    write_sql(site, "DELETE FROM accounts_plan")
    os.chmod(site.db, 0o640)
    before_inode = os.stat(site.db).st_ino

    result = site.inv("restore", manifest["path"], "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "(renamed into place)" in result.stdout
    assert os.stat(site.db).st_ino != before_inode  # a new file, atomically
    assert mode(site.db) == 0o640
    assert site.query("PRAGMA journal_mode") == [("wal",)]
    assert plan_count(site) == 3 and site.query("PRAGMA integrity_check") == [("ok",)]
    assert not [name for name in os.listdir(site.db.parent) if name.endswith("-restoring")]
    assert sha256_of_file(manifest["path"]) == manifest["sha256"]  # the backup itself is untouched


def test_restore_while_another_process_holds_the_database_writes_through_sqlite(migrated_site, tmp_path):
    """An open connection elsewhere (a worker with persistent connections) would keep reading a renamed-away
    file: then one write transaction on the live file replaces its content instead, and that connection sees the
    restored data."""
    site = migrated_site
    manifest = backup_json(site)
    write_sql(site, "DELETE FROM accounts_plan")
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), str(site.db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        inode = os.stat(site.db).st_ino
        result = site.inv("restore", manifest["path"], "--yes")
        assert result.returncode == 0, result.stderr + result.stdout
        assert "(replaced in one write transaction)" in result.stdout
        assert os.stat(site.db).st_ino == inode
        out, err = holder.communicate("\n", timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert out.split()[-1] == "3", err
    assert plan_count(site) == 3 and site.query("PRAGMA journal_mode") == [("wal",)]


def test_backup_while_an_old_reader_holds_the_wal_falls_back_to_the_backup_api(migrated_site, tmp_path):
    """A reader in a long transaction keeps the WAL from being checkpointed: the copy is then taken with the
    online backup API, still consistent and complete."""
    site = migrated_site
    reader = sqlite3.connect(site.db, timeout=30, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM accounts_plan").fetchone()
        write_sql(site, "UPDATE accounts_plan SET name = name || ' (renamed)'")
        manifest = backup_json(site)
    finally:
        reader.close()
    assert manifest["method"] == "online backup API"
    assert sqlite_rows(manifest["path"], "PRAGMA integrity_check") == [("ok",)]
    assert sqlite_rows(manifest["path"], "SELECT count(*) FROM accounts_plan WHERE name LIKE '%(renamed)'") == [(3,)]
    assert sha256_of_file(manifest["path"]) == manifest["sha256"]
    assert backup_json(site)["method"] == "snapshot"  # once the reader is gone


@pytest.mark.parametrize("held_open", [False, True], ids=["renamed", "one-transaction"])
def test_a_restore_under_writes_loses_no_committed_row(migrated_site, tmp_path, held_open):
    """Every row whose COMMIT returned is in the restored database or in the safety backup (issue 9, item 6),
    whether the restore renames a file in or (another connection holding the database open) writes through."""
    site = migrated_site
    write_sql(site, "CREATE TABLE fault_writes (id INTEGER PRIMARY KEY, token TEXT UNIQUE)")
    write_sql(site, "CREATE TABLE fault_ballast (data BLOB)")
    write_sql(site, "INSERT INTO fault_ballast SELECT randomblob(1048576) FROM (WITH RECURSIVE n(i) AS "
                    "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) SELECT i FROM n)")
    manifest = backup_json(site)
    holder = None
    if held_open:
        script = tmp_path / "holder.py"
        script.write_text(HOLDER)
        holder = subprocess.Popen([sys.executable, str(script), str(site.db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
    try:
        with CommitWriter(sqlite_insert(str(site.db)), sqlite3.Error) as writer:
            time.sleep(1)
            result = site.inv("restore", manifest["path"], "--yes")
            time.sleep(1)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    assert result.returncode == 0, result.stderr + result.stdout
    method = "(replaced in one write transaction)" if held_open else "(renamed into place)"
    assert method in result.stdout, result.stdout
    [safety] = [name for name in backup_names(site) if "-pre-restore" in name]
    committed = set(writer.committed)
    lost = committed - (sqlite_tokens(site.db) | sqlite_tokens(site.root / "backups" / safety))
    print(f"writer: {len(committed)} committed, {writer.failed} failed, {len(lost)} lost")
    assert len(committed) > 50 and not lost, f"{len(lost)} of {len(committed)} committed rows are lost"


SLOW_DJANGO = """import sys, time
if "manage.py" in sys.argv:  # the project's Django commands, not inv itself
    open({marker!r}, "w").close()
    time.sleep(15)
"""


@pytest.mark.parametrize("task", [("backup",), ("restore", "LATEST", "--yes")])
def test_ctrl_c_while_the_projects_django_runs_is_one_line_and_changes_nothing(migrated_site, tmp_path, task):
    """Ctrl-C in the terminal (SIGINT to inv and the Django it runs, its foreground process group) while that Django
    has its whole request: Invoke wrote Ctrl-C's byte into the closed stdin and the task ended in a traceback
    (`ValueError: I/O operation on closed file`), hiding what became of the backup or the restore."""
    site = migrated_site
    if task[0] == "restore":
        assert site.inv("backup").returncode == 0
        task = ("restore", backup_names(site)[-1], "--yes")
    before, rows = backup_names(site), site.query("SELECT count(*) FROM accounts_plan")
    marker = tmp_path / "django-started"
    (tmp_path / "sitecustomize.py").write_text(SLOW_DJANGO.format(marker=str(marker)))
    run = subprocess.Popen([sys.executable, "-m", "invoke", *task], cwd=site.root,
                           env=clean_env(PYTHONPATH=str(tmp_path)), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=ctrl_c_reaches_it)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.02)
        os.killpg(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 1 and "Traceback" not in err + out, (run.returncode, out, err)
    assert err.strip().startswith("deploytasks: error: ") and "interrupted (Ctrl-C)" in err, err
    assert backup_names(site) == before and site.query("SELECT count(*) FROM accounts_plan") == rows


def test_a_backup_removes_the_partial_files_killed_dumps_left_here_but_not_one_being_written(migrated_site):
    """A safety dump Ctrl-C stopped in a laptop's restore left `<name>.partial` (tens of MB) that nothing removed:
    only servers swept them. A backup removes those idle for ten minutes and open nowhere."""
    site = migrated_site
    backups = site.root / "backups"
    assert site.inv("backup").returncode == 0
    stale, fresh = backups / "site-20260101T000000Z-pre-restore.dump.zst.partial", backups / "site-now.partial"
    for path in (stale, fresh):
        path.write_bytes(b"\0" * 4096)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert site.inv("backup").returncode == 0
    assert not stale.exists() and fresh.exists()
    fresh.unlink()


@pytest.mark.parametrize("task", ["backup", "restore"])
def test_a_backup_or_restore_onto_a_full_disk_says_where_and_what_to_do_and_keeps_nothing(migrated_site, tmp_path,
                                                                                          task):
    """The backups directory on a 64 KiB tmpfs (a private mount namespace): it said `backup failed: OSError:
    [Errno 28] No space left on device` (or `restore failed: …`), naming neither the place nor the way out."""
    site = migrated_site
    backups, out = site.root / "backups", tmp_path / "out"
    backups.mkdir(exist_ok=True)
    out.mkdir()
    args = ["backup"]
    if task == "restore":  # a backup kept elsewhere; the safety backup cannot be written
        assert site.inv("backup").returncode == 0
        name = backup_names(site)[-1]
        for suffix in ("", ".json"):
            shutil.copyfile(backups / (name + suffix), tmp_path / (name + suffix))
        args = ["restore", str(tmp_path / name), "--yes"]
    rows = site.query("SELECT count(*) FROM accounts_plan")
    q = shlex.quote
    script = (f"mount -t tmpfs -o size=64k tmpfs {q(str(backups))} && "
              f"{{ {q(sys.executable)} -m invoke {' '.join(map(q, args))} > {q(str(out / 'stdout'))} "
              f"2> {q(str(out / 'stderr'))}; echo $? > {q(str(out / 'rc'))}; ls -A {q(str(backups))} > "
              f"{q(str(out / 'left'))}; }}")
    prefix = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    subprocess.run(prefix + ["sh", "-c", script], cwd=site.root, env=clean_env(), check=True,
                   stdin=subprocess.DEVNULL, timeout=300)
    output = (out / "stdout").read_text() + (out / "stderr").read_text()
    assert (out / "rc").read_text().strip() == "1" and "Traceback" not in output, output
    said = (f"no space left on the disk of {backups} for the backup: free some" if task == "backup"
            else f"no space left on a disk the restore writes to (its safety backup in {backups}")
    assert said in output, output
    assert [name for name in (out / "left").read_text().split() if name != ".gitignore"] == []
    assert site.query("SELECT count(*) FROM accounts_plan") == rows
