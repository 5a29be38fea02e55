"""`inv backup` / `inv backups` / `inv restore` on a real PostgreSQL database (127.0.0.1:5432).

Every test gets its own database and login role (dt_<random>, with a password), made and dropped here;
the server's other databases are never touched. The example project runs in a venv built by the real
`inv venv install` from the example's requirements plus psycopg (a requirements file written into the copy).
"""
from __future__ import annotations

import hashlib
import json
import os
import glob
import pwd
import re
import secrets
import tempfile
from urllib.parse import quote
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests._util import (TOOL_ENV_BASICS, CommitWriter, Site, installed_venv, assert_user_error, copy_example, dumped_tokens,
                         env_recording_tools, pg_restore_run, recorded_tool_envs)
from tests.sshd import free_port

psycopg = pytest.importorskip("psycopg", reason="psycopg is in the test extras: pip install -e '.[test]'")

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
PG_TOOLS = ("pg_dump", "pg_restore", "psql")


def server_reachable() -> bool:
    """PostgreSQL's client tools here and its server on 127.0.0.1:5432 (what every PostgreSQL test needs)."""
    if not all(shutil.which(tool) for tool in PG_TOOLS):
        return False
    try:
        psycopg.connect(**PG, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


pytestmark = pytest.mark.skipif(not server_reachable(), reason="no PostgreSQL client tools or server on 127.0.0.1:5432")


def admin(sql, dbname="postgres"):
    with psycopg.connect(**dict(PG, dbname=dbname), autocommit=True) as connection:
        connection.execute(sql)


class PgSite(Site):
    """A copy of the example project whose DATABASE_URL (.env) names its own PostgreSQL database and role."""

    def __init__(self, root: Path, venv: Path, name: str, password: str):
        super().__init__(root, venv)
        self.name, self.password = name, password
        (root / ".env").write_text(f"DATABASE_URL=postgres://{name}:{password}@127.0.0.1:5432/{name}\n")

    def connect(self, **options):
        return psycopg.connect(**dict(PG, user=self.name, dbname=self.name), **options)

    def query(self, sql, params=()):
        with self.connect() as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def execute(self, sql, params=()):
        with self.connect(autocommit=True) as connection:
            connection.execute(sql, params)

    def tables(self) -> list:
        return [name for (name,) in self.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]

    def fingerprint(self) -> str:
        """sha256 of the schema (columns, indexes) and every table's rows, in a stable order."""
        digest = hashlib.sha256()
        with self.connect() as connection:
            for row in connection.execute(
                    "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns"
                    " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"):
                digest.update(repr(row).encode())
            for row in connection.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                                          " ORDER BY indexname"):
                digest.update(repr(row).encode())
            for table in self.tables():
                (rows,) = connection.execute(
                    f'SELECT md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), \'\')) FROM public."{table}" t'
                ).fetchone()
                digest.update(f"{table}:{rows}".encode())
        return digest.hexdigest()

    def backups(self) -> list:
        directory = self.root / "backups"
        return sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) if directory.is_dir() else []


@pytest.fixture(scope="session")
def pg_venv(tmp_path_factory) -> Path:
    """One real venv with the example's requirements and psycopg, installed by the real `inv venv install`."""
    return installed_venv(tmp_path_factory.mktemp("pg-shared"), "psycopg[binary]\n")


def new_database():
    name = "dt_" + secrets.token_hex(6)
    password = "pw-" + secrets.token_hex(12)
    admin(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    admin(f"CREATE DATABASE {name} OWNER {name}")
    return name, password


def drop_database(name):
    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"DROP ROLE IF EXISTS {name}")


@pytest.fixture
def pg_site(tmp_path, pg_venv):
    """A fresh copy of the example project on a fresh, empty PostgreSQL database of its own."""
    name, password = new_database()
    try:
        yield PgSite(copy_example(tmp_path / "site"), pg_venv, name, password)
    finally:
        drop_database(name)


@pytest.fixture
def migrated_pg_site(pg_site):
    result = pg_site.inv("migrate")
    assert result.returncode == 0, result.stderr + result.stdout
    return pg_site


def backup_json(site, *args) -> dict:
    result = site.inv("backup", "--json", *args)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def plan_count(site):
    return site.query("SELECT count(*) FROM accounts_plan")[0][0]


def test_backup_is_a_private_verified_custom_format_dump_with_a_manifest(migrated_pg_site):
    site = migrated_pg_site
    manifest = backup_json(site)
    dump = site.root / "backups" / manifest["file"]
    assert manifest["file"].startswith(site.name + "-") and manifest["file"].endswith(".dump.zst")
    assert manifest["path"] == str(dump)
    assert site.backups() == [manifest["file"], manifest["file"] + ".json"]  # no .partial, no temp files
    assert mode(dump) == 0o600 and mode(str(dump) + ".json") == 0o600 and mode(site.root / "backups") == 0o700
    assert dump.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # zstd around the custom-format archive
    inner = subprocess.run(["zstd", "-dc", str(dump)], stdout=subprocess.PIPE, check=True).stdout
    assert inner[:5] == b"PGDMP"

    on_disk = json.loads((site.root / "backups" / (manifest["file"] + ".json")).read_text())
    assert on_disk["engine"] == "postgresql"
    assert on_disk["database"] == site.name
    assert on_disk["db_host"] == "127.0.0.1" and on_disk["db_port"] == "5432"
    assert time.strptime(on_disk["created"], "%Y-%m-%dT%H:%M:%SZ")
    assert on_disk["size"] == dump.stat().st_size
    assert on_disk["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert on_disk["migrations"]["accounts"][-1] == "0016_seed_default_plans_and_settings"
    assert len(on_disk["migrations"]["accounts"]) == 16
    assert on_disk["migrations"] == {app: names for app, names in _applied(site).items()}
    assert on_disk["verified"].startswith("pg_restore")
    assert on_disk["dump_tool"].startswith("pg_dump (PostgreSQL)")
    assert on_disk["tool"].startswith("deploytasks ")
    assert "password" not in json.dumps(on_disk).lower() and site.password not in json.dumps(on_disk)

    listing = pg_restore_run(dump, "--list")
    assert listing.returncode == 0 and "TABLE DATA public accounts_plan" in listing.stdout
    assert " ACL " not in listing.stdout  # --no-acl: no GRANTs naming this server's roles

    table = site.inv("backup")
    assert table.returncode == 0, table.stderr
    assert "pg_restore" in table.stdout and " ok" in table.stdout


def _applied(site) -> dict:
    state = {}
    for app, name in site.query("SELECT app, name FROM django_migrations ORDER BY id"):
        state.setdefault(app, []).append(name)
    return state


def test_keep_prunes_dumps_and_backups_lists_them(migrated_pg_site):
    site = migrated_pg_site
    for label in ("one", "two", "three"):
        backup_json(site, "--label", label)
    result = site.inv("backup", "--keep", "2", "--label", "four")
    assert result.returncode == 0, result.stderr
    assert "removed 2 old backup(s)" in result.stdout
    dumps = [name for name in site.backups() if name.endswith(".dump.zst")]
    assert sorted(name.rsplit("-", 1)[-1] for name in dumps) == ["four.dump.zst", "three.dump.zst"]
    assert len(site.backups()) == 4

    listed = json.loads(site.inv("backups", "--json", "--verify").stdout)["backups"]
    assert [os.path.basename(b["path"]).rsplit("-", 1)[-1] for b in listed] == ["four.dump.zst", "three.dump.zst"]
    assert all(b["sha256_ok"] and b["present"] and b["engine"] == "postgresql" for b in listed)


def test_restore_brings_the_old_rows_back_and_keeps_a_safety_backup(migrated_pg_site):
    site = migrated_pg_site
    manifest = backup_json(site, "--label", "good")
    original = site.fingerprint()
    site.execute("DELETE FROM accounts_plan")
    site.execute("CREATE TABLE stray_after_backup (id int)")  # made after the backup: the restore removes it
    changed = site.fingerprint()
    assert changed != original and plan_count(site) == 0

    result = site.inv("restore", manifest["file"], "--yes")  # a bare name is looked up in backups/
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "matches its manifest" in result.stdout and "pg_restore" in result.stdout
    assert f"restored {manifest['path']}" in result.stdout
    assert plan_count(site) == 3
    assert "stray_after_backup" not in site.tables()
    assert site.fingerprint() == original

    [safety] = [name for name in site.backups() if name.endswith("-pre-restore.dump.zst")]
    assert f"safety backup of what was there: {site.root / 'backups' / safety}" in result.stdout
    safety_manifest = json.loads((site.root / "backups" / (safety + ".json")).read_text())
    assert safety_manifest["reason"] == "safety backup before restore" and safety_manifest["engine"] == "postgresql"
    listing = pg_restore_run(site.root / "backups" / safety, "--list")
    assert "stray_after_backup" in listing.stdout  # the safety backup holds what was there

    # and the safety backup puts that state back
    again = site.inv("restore", safety, "--yes")
    assert again.returncode == 0, again.stderr + again.stdout
    assert site.fingerprint() == changed and "stray_after_backup" in site.tables()


def test_a_backup_this_machine_read_back_whole_is_not_read_whole_again_when_restored(migrated_pg_site, tmp_path):
    """Its sha256 is in backups/.read-back-sha256: the very bytes passed pg_restore's whole read as they were
    made. Without that record (another machine's dump, or the record gone) the restore reads the file whole first."""
    site = migrated_pg_site
    manifest = backup_json(site, "--label", "readback")
    listed = site.root / "backups" / ".read-back-sha256"
    assert manifest["sha256"] in listed.read_text().split() and stat.S_IMODE(listed.stat().st_mode) == 0o600
    reads = {}
    for case in ("remembered", "forgotten"):
        if case == "forgotten":
            listed.write_text("")
        log = tmp_path / f"{case}.log"
        env = env_recording_tools(tmp_path / f"wrappers-{case}", log, {tool: shutil.which(tool) for tool in PG_TOOLS})
        restore = site.inv("restore", manifest["file"], "--yes", env=env)
        assert restore.returncode == 0, restore.stderr + restore.stdout
        assert ("read back when this machine made it" in restore.stdout) == (case == "remembered"), restore.stdout
        assert plan_count(site) == 3
        reads[case] = [tool for tool, _ in recorded_tool_envs(log)].count("pg_restore")
    assert reads["forgotten"] == reads["remembered"] + 1, reads  # the upload's whole read, and nothing else


def pg_insert(site):
    """An insert(token) for CommitWriter: one row into fault_writes, a connection of its own."""
    def insert(token):
        with site.connect(autocommit=True, connect_timeout=5) as connection:
            connection.execute("INSERT INTO fault_writes (token) VALUES (%s)", (token,))
    return insert


def test_a_restore_under_writes_loses_no_committed_row(migrated_pg_site):
    """Every row whose COMMIT returned is in the restored database or in the safety backup (issue 9, item 6)."""
    site = migrated_pg_site
    site.execute("CREATE TABLE fault_writes (id serial PRIMARY KEY, token text UNIQUE)")
    site.execute("CREATE TABLE fault_ballast AS SELECT g AS n, md5(g::text) || repeat('x', 500) AS data "
                 "FROM generate_series(1, 100000) g")  # a restore that takes a moment, like a real one
    manifest = backup_json(site, "--label", "good")
    with CommitWriter(pg_insert(site), psycopg.Error) as writer:
        time.sleep(1)
        result = site.inv("restore", manifest["file"], "--yes")
        time.sleep(1)
    assert result.returncode == 0, result.stderr + result.stdout
    [safety] = [name for name in site.backups() if name.endswith("-pre-restore.dump.zst")]
    present = {token for (token,) in site.query("SELECT token FROM fault_writes")}
    present |= dumped_tokens(site.root / "backups" / safety)
    committed = set(writer.committed)
    lost = committed - present
    print(f"writer: {len(committed)} committed, {writer.failed} failed, {len(lost)} lost")
    assert len(committed) > 50 and not lost, f"{len(lost)} of {len(committed)} committed rows are lost"


def columns(site, table):
    return [name for (name,) in site.query("SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                                           " ORDER BY ordinal_position", (table,))]


def test_restoring_an_older_backup_puts_the_older_schema_back_and_reports_migrations(migrated_pg_site):
    site = migrated_pg_site
    back = site.manage("migrate", "accounts", "0010", env={"DATABASE_URL": _url(site)})
    assert back.returncode == 0, back.stderr
    old = backup_json(site, "--label", "at0010")
    assert len(old["migrations"]["accounts"]) == 10
    old_tables, old_columns = site.tables(), columns(site, "accounts_sitesettings")
    old_fingerprint = site.fingerprint()
    forwards = site.inv("migrate")
    assert forwards.returncode == 0, forwards.stderr
    assert "maintenance_mode" in set(columns(site, "accounts_sitesettings")) - set(old_columns)  # 0013

    result = site.inv("restore", old["path"], "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    [row] = [line for line in result.stdout.splitlines() if line.startswith("│ accounts")]
    assert "0010_plan_slug" in row and "6 to apply" in row
    assert "behind the code in accounts: apply them: `inv migrate` now" in " ".join(result.stdout.split())
    assert site.tables() == old_tables
    assert columns(site, "accounts_sitesettings") == old_columns  # the newer migrations' columns are gone
    assert site.fingerprint() == old_fingerprint

    again = site.inv("migrate")  # and migrating forwards works on the restored database
    assert again.returncode == 0, again.stderr + again.stdout
    assert site.query("SELECT count(*) FROM django_migrations WHERE app = 'accounts'") == [(16,)]


def _url(site):
    return f"postgres://{site.name}:{site.password}@127.0.0.1:5432/{site.name}"


def fails_cleanly(site, *args, fragments=(), env=None):
    """One line naming the problem, exit 1, and neither the database nor the backups directory changed."""
    before = (site.fingerprint(), site.backups())
    line = assert_user_error(site.inv(*args, env=env), *fragments)
    assert (site.fingerprint(), site.backups()) == before
    return line


def changed_after_backup(site):
    manifest = backup_json(site)
    site.execute("DELETE FROM accounts_plan")
    return manifest


def test_damaged_dumps_are_refused_and_the_database_is_untouched(migrated_pg_site, tmp_path):
    site = migrated_pg_site
    manifest = changed_after_backup(site)
    dump = Path(manifest["path"])
    data = dump.read_bytes()

    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    shutil.copyfile(str(dump) + ".json", str(truncated) + ".json")
    fails_cleanly(site, "restore", str(truncated), "--yes", fragments=("truncated or changed",))

    # the same file, with a manifest that matches it: pg_restore's own read finds the damage
    described = json.loads(Path(str(dump) + ".json").read_text())
    described.update(size=truncated.stat().st_size, sha256=hashlib.sha256(truncated.read_bytes()).hexdigest())
    Path(str(truncated) + ".json").write_text(json.dumps(described))
    fails_cleanly(site, "restore", str(truncated), "--yes", fragments=("is damaged", "pg_restore"))

    # no manifest at all (--unverified): still read in full before anything is touched
    bare = tmp_path / "bare.dump"
    bare.write_bytes(data[: len(data) // 2])
    fails_cleanly(site, "restore", str(bare), "--yes", "--unverified", fragments=("is damaged",))

    flipped = tmp_path / "flipped.dump"
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0xFF
    flipped.write_bytes(bytes(changed))
    shutil.copyfile(str(dump) + ".json", str(flipped) + ".json")
    fails_cleanly(site, "restore", str(flipped), "--yes", fragments=("does not match its manifest's sha256",))

    not_a_dump = tmp_path / "notes.dump"
    not_a_dump.write_text("hello\n")
    fails_cleanly(site, "restore", str(not_a_dump), "--yes", "--unverified", fragments=("is not a postgresql backup",))


def test_an_sqlite_backup_is_refused_by_a_postgresql_project(migrated_pg_site, tmp_path):
    site = migrated_pg_site
    changed_after_backup(site)
    sqlite_dump = tmp_path / "db-20260101T000000Z.sqlite3"
    connection = sqlite3.connect(sqlite_dump)
    connection.execute("CREATE TABLE django_migrations (id integer primary key, app text, name text, applied text)")
    connection.commit()
    connection.close()
    Path(str(sqlite_dump) + ".json").write_text(json.dumps({
        "file": sqlite_dump.name, "engine": "sqlite", "size": sqlite_dump.stat().st_size,
        "sha256": hashlib.sha256(sqlite_dump.read_bytes()).hexdigest()}))
    fails_cleanly(site, "restore", str(sqlite_dump), "--yes",
                  fragments=("is an sqlite backup", "'default' database is postgresql"))
    os.unlink(str(sqlite_dump) + ".json")
    fails_cleanly(site, "restore", str(sqlite_dump), "--yes", "--unverified", fragments=("is an sqlite backup",))


def test_a_postgresql_dump_is_refused_by_an_sqlite_project(migrated_pg_site, tmp_path):
    manifest = backup_json(migrated_pg_site)
    sqlite_site = Site(copy_example(tmp_path / "sqlite-site"), migrated_pg_site.venv)
    migrated = sqlite_site.inv("migrate")
    assert migrated.returncode == 0, migrated.stderr
    before = sqlite_site.fingerprint()
    line = assert_user_error(sqlite_site.inv("restore", manifest["path"], "--yes"), "is a postgresql backup")
    assert "sqlite" in line
    assert sqlite_site.fingerprint() == before
    assert not (sqlite_site.root / "backups").exists()


def test_a_restore_failing_halfway_is_rolled_back(migrated_pg_site):
    """The archive is fine but replaying it fails late (an index whose function needs the search_path that
    pg_restore empties): everything before it (drops, tables, data) is rolled back."""
    site = migrated_pg_site
    site.execute("CREATE FUNCTION public.inner_len(text) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT length($1)'")
    site.execute("CREATE FUNCTION public.outer_len(text) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT inner_len($1)'")
    site.execute("CREATE INDEX plan_name_len ON accounts_plan (outer_len(name))")
    manifest = changed_after_backup(site)
    site.execute("CREATE TABLE stray_after_backup (id int)")
    line = fails_cleanly_except_safety(site, manifest)
    assert "rolled back" in line and "the database is as it was" in line
    assert "stray_after_backup" in site.tables()


def fails_cleanly_except_safety(site, manifest):
    before = site.fingerprint()
    backups_before = site.backups()
    line = assert_user_error(site.inv("restore", manifest["path"], "--yes"))
    assert site.fingerprint() == before
    added = sorted(set(site.backups()) - set(backups_before))
    assert len(added) == 2 and added[0].endswith("-pre-restore.dump.zst")  # the safety backup was taken first
    assert added[0] in line
    return line


def test_missing_client_tools_name_the_package(migrated_pg_site, tmp_path):
    site = migrated_pg_site
    manifest = changed_after_backup(site)
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty)}
    fails_cleanly(site, "backup", env=env, fragments=("pg_dump not found", "apt-get install -y postgresql-client"))
    fails_cleanly(site, "restore", manifest["path"], "--yes", env=env,
                  fragments=("not found", "apt-get install -y postgresql-client"))


WRAPPER = """#!/bin/sh
line="argv: $0"
for word in "$@"; do line="$line $word"; done
line="$line || PGPASSWORD=${{PGPASSWORD-unset}}"
if [ -n "$PGPASSFILE" ]; then line="$line || passfile: $PGPASSFILE $(stat -L -c %a "$PGPASSFILE") $(cat "$PGPASSFILE")"; fi
printf '%s\\n' "$line" >> {log}  # one write: psql and pg_restore run side by side
exec {real} "$@"
"""


def test_the_password_reaches_the_tools_in_a_private_file_never_argv(migrated_pg_site, tmp_path):
    site = migrated_pg_site
    log = tmp_path / "tools.log"
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    for tool in PG_TOOLS:
        path = wrappers / tool
        path.write_text(WRAPPER.format(log=log, real=shutil.which(tool)))
        path.chmod(0o755)
    env = {"PATH": f"{wrappers}:{os.environ['PATH']}", "PGPASSWORD": "not-the-one"}

    seen, stop = set(), threading.Event()

    def watch():  # every command line `ps` could show while the tasks run
        while not stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as handle:
                            seen.add(handle.read().replace(b"\0", b" ").decode("utf-8", "replace"))
                    except OSError:
                        pass
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        backup = site.inv("backup", "--json", env=env)
        assert backup.returncode == 0, backup.stderr + backup.stdout
        manifest = json.loads(backup.stdout)
        restore = site.inv("restore", manifest["path"], "--yes", env=env)
        assert restore.returncode == 0, restore.stderr + restore.stdout
    finally:
        stop.set()
        watcher.join()

    calls = log.read_text().splitlines()
    by_tool = {tool: [line for line in calls if line.startswith(f"argv: {wrappers / tool} ")
                          and " --version " not in line] for tool in PG_TOOLS}
    # pg_dump: the backup, the safety backup; psql: the snapshot sessions of both (their migrations), the restore
    assert len(by_tool["pg_dump"]) == 2 and len(by_tool["psql"]) == 3
    connecting = by_tool["pg_dump"] + by_tool["psql"]
    for line in connecting:
        argv, env, passfile = line.split(" || ")
        assert site.password not in argv
        assert "--host=127.0.0.1" in argv and "--port=5432" in argv and f"--username={site.name}" in argv
        assert f"--dbname={site.name}" in argv and "--no-password" in argv
        assert env == "PGPASSWORD=unset"  # dropped: it would win over the file
        path, file_mode, content = passfile.split(" ", 3)[1:]
        assert file_mode == "600" and content == f"*:*:*:*:{site.password}"
        assert re.fullmatch(r"/proc/\d+/fd/\d+", path)  # a memory file of the tool's parent: on no disk
        assert not os.path.exists(path)  # gone with it
    assert all("--no-owner" in line and "--no-acl" in line for line in by_tool["pg_dump"])
    assert by_tool["pg_restore"] and all(site.password not in line for line in by_tool["pg_restore"])  # no file
    for output in (backup.stdout, backup.stderr, restore.stdout, restore.stderr):
        assert site.password not in output
    assert seen and not [line for line in seen if site.password in line]


# --- real password authentication ------------------------------------------------------------------
# The shared server trusts 127.0.0.1, so it would accept a wrong password or none. A private cluster with
# scram-sha-256 proves the password really reaches pg_dump and psql (through the PGPASSFILE) and works.

@pytest.fixture(scope="module")
def scram_server():
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if os.geteuid() != 0 or not initdb or not shutil.which("runuser"):
        pytest.skip("needs root, runuser and the PostgreSQL server binaries to start a private cluster")
    bindir = os.path.dirname(initdb[-1])
    owner = pwd.getpwnam("postgres")
    base = tempfile.mkdtemp(prefix="dt-scram-")
    os.chown(base, owner.pw_uid, owner.pw_gid)
    superuser_password = secrets.token_hex(16)
    pwfile = os.path.join(base, "pw")
    with open(pwfile, "w") as handle:
        handle.write(superuser_password + "\n")
    os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    data = os.path.join(base, "data")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port("127.0.0.1")
    done = subprocess.run(as_postgres + [f"{bindir}/initdb", "-D", data, "--auth=scram-sha-256", "-U", "postgres",
                                         f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    done = subprocess.run(as_postgres + [f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", f"{base}/log", "-w",
                                         "start"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + open(f"{base}/log").read()
    try:
        yield {"host": "127.0.0.1", "port": port, "user": "postgres", "password": superuser_password}
    finally:
        subprocess.run(as_postgres + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_password_authentication_works_through_the_private_file(scram_server, tmp_path, pg_venv):
    name = "dt_" + secrets.token_hex(6)
    password = "p:w\\@" + secrets.token_hex(8)  # ':' and '\\' need escaping in a pgpass file, '@' in the URL
    with psycopg.connect(dbname="postgres", autocommit=True, **scram_server) as connection:
        connection.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        connection.execute(f"CREATE DATABASE {name} OWNER {name}")
    site = Site(copy_example(tmp_path / "site"), pg_venv)
    url = f"postgres://{name}:{quote(password, safe='')}@127.0.0.1:{scram_server['port']}/{name}"
    (site.root / ".env").write_text(f"DATABASE_URL={url}\n")

    def rows():
        with psycopg.connect(host="127.0.0.1", port=scram_server["port"], user=name, password=password,
                             dbname=name) as connection:
            return connection.execute("SELECT id, name FROM accounts_plan ORDER BY id").fetchall()

    migrated = site.inv("migrate")
    assert migrated.returncode == 0, migrated.stderr + migrated.stdout
    plans = rows()
    backup = site.inv("backup", "--json", env={"PGPASSWORD": "wrong"})  # the settings' password wins
    assert backup.returncode == 0, backup.stderr + backup.stdout
    manifest = json.loads(backup.stdout)
    with psycopg.connect(host="127.0.0.1", port=scram_server["port"], user=name, password=password, dbname=name,
                         autocommit=True) as connection:
        connection.execute("DELETE FROM accounts_plan")
    restore = site.inv("restore", manifest["path"], "--yes")
    assert restore.returncode == 0, restore.stderr + restore.stdout
    assert rows() == plans and len(plans) == 3
    for output in (backup.stdout, backup.stderr, restore.stdout, restore.stderr):
        assert password not in output and quote(password, safe="") not in output

    wrong = url.replace(quote(password, safe=""), "not-it")
    (site.root / ".env").write_text(f"DATABASE_URL={wrong}\n")
    before = sorted(os.listdir(site.root / "backups"))
    line = assert_user_error(site.inv("backup"), "password authentication failed")
    assert "not-it" not in line
    assert sorted(os.listdir(site.root / "backups")) == before


def test_the_tools_get_their_libpq_settings_and_nothing_else_of_the_environment(migrated_pg_site, tmp_path):
    """Issue 10 §6: DATABASE_URL (the password) and the rest of the project's environment never reach them."""
    site = migrated_pg_site
    log = tmp_path / "env.log"
    env = env_recording_tools(tmp_path / "wrappers", log, {tool: shutil.which(tool) for tool in PG_TOOLS})
    env.update(SECRET_KEY="project-secret-" + secrets.token_hex(4), PGCONNECT_TIMEOUT="17")
    backup = site.inv("backup", "--json", env=env)
    assert backup.returncode == 0, backup.stderr + backup.stdout
    restore = site.inv("restore", json.loads(backup.stdout)["path"], "--yes", env=env)
    assert restore.returncode == 0, restore.stderr + restore.stdout

    runs = recorded_tool_envs(log)
    assert {tool for tool, _ in runs} == set(PG_TOOLS)
    for tool, environ in runs:
        assert "DATABASE_URL" not in environ and "SECRET_KEY" not in environ, (tool, sorted(environ))
        assert set(environ) <= TOOL_ENV_BASICS | {k for k in environ if k.startswith("PG")}, (tool, sorted(environ))
        assert not [value for value in environ.values() if site.password in value], tool
        assert environ["PGCONNECT_TIMEOUT"] == "17"
