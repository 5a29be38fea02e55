"""`inv backup` / `inv backups` / `inv restore` on a real MySQL/MariaDB server (127.0.0.1:3306, root without password).

Every test gets its own database and user (dt_<random>, with a password the server really checks), made and
dropped here. The example project runs in a venv built by the real `inv venv install` from the example's
requirements plus PyMySQL (installed as MySQLdb by the copy's mysite/__init__.py: no C build needed).
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests._util import (ROOT, TOOL_ENV_BASICS, Site, installed_venv, assert_user_error, clean_env, copy_example,
                         env_recording_tools, recorded_tool_envs)

MYSQL = shutil.which("mysql") or shutil.which("mariadb")
DUMP = shutil.which("mysqldump") or shutil.which("mariadb-dump")


def root(sql, database=None):
    """Rows (lists of strings) of `sql` run as root through the mysql client."""
    done = subprocess.run([MYSQL, "--protocol=TCP", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-N", "-B", "-e",
                           sql] + ([database] if database else []), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


def server_reachable() -> bool:
    if not (MYSQL and DUMP):
        return False
    try:
        return subprocess.run([MYSQL, "--protocol=TCP", "-h", "127.0.0.1", "-u", "root", "-e", "SELECT 1"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not server_reachable(), reason="no MySQL/MariaDB client tools or server on 127.0.0.1:3306")
SHIM = "import pymysql\n\npymysql.install_as_MySQLdb()\n"


class MySite(Site):
    def __init__(self, root_dir: Path, venv: Path, name: str, password: str):
        super().__init__(root_dir, venv)
        self.name, self.password = name, password
        (root_dir / "mysite" / "__init__.py").write_text(SHIM)
        (root_dir / ".env").write_text(
            f"DATABASE_URL=mysql://{name}:{quote(password, safe='')}@127.0.0.1:3306/{name}\n")

    def query(self, sql):
        return root(sql, self.name)

    def tables(self) -> list:
        return sorted(row[0] for row in self.query("SHOW TABLES"))

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for table in self.tables():
            digest.update(self.query(f"SHOW CREATE TABLE `{table}`")[0][1].encode())
            digest.update(repr(self.query(f"SELECT * FROM `{table}` ORDER BY 1")).encode())
        return digest.hexdigest()

    def backups(self) -> list:
        directory = self.root / "backups"
        return sorted(p.name for p in directory.iterdir() if p.name != ".gitignore") if directory.is_dir() else []


@pytest.fixture(scope="session")
def mysql_venv(tmp_path_factory) -> Path:
    return installed_venv(tmp_path_factory.mktemp("mysql-shared"), "PyMySQL\n")


@pytest.fixture
def my_site(tmp_path, mysql_venv):
    name = "dt_" + secrets.token_hex(6)
    password = 'p:w"\\' + secrets.token_hex(8)  # quotes and backslashes must survive the options file
    sql_password = password.replace("\\", "\\\\").replace("'", "\\'")
    root(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    root(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{sql_password}'")
    root(f"GRANT ALL ON `{name}`.* TO '{name}'@'%'")
    try:
        site = MySite(copy_example(tmp_path / "site"), mysql_venv, name, password)
        migrated = site.inv("migrate")
        assert migrated.returncode == 0, migrated.stderr + migrated.stdout
        yield site
    finally:
        root(f"DROP DATABASE IF EXISTS `{name}`")
        root(f"DROP USER IF EXISTS '{name}'@'%'")


def unzstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-dc", "-q"], input=data, capture_output=True, check=True).stdout


def zstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-c", "-q"], input=data, capture_output=True, check=True).stdout


def path_without_zstd(directory: Path) -> str:
    """A PATH holding everything /usr/bin and /usr/local/bin have except zstd (links in `directory`)."""
    directory.mkdir()
    for source in ("/usr/local/bin", "/usr/bin"):
        for name in os.listdir(source):
            if not name.startswith(("zstd", "unzstd", "zstdcat", "pzstd")) and not (directory / name).exists():
                os.symlink(os.path.join(source, name), directory / name)
    return str(directory)


def backup_json(site, *args, env=None) -> dict:
    result = site.inv("backup", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def plan_count(site):
    return int(site.query("SELECT count(*) FROM accounts_plan")[0][0])


def test_backup_restore_and_prune(my_site):
    site = my_site
    manifest = backup_json(site, "--label", "good")
    dump = Path(manifest["path"])
    assert dump.name.startswith(site.name + "-") and dump.name.endswith("-good.sql.zst")
    assert site.backups() == [dump.name, dump.name + ".json"]
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600 and stat.S_IMODE(os.stat(str(dump) + ".json").st_mode) == 0o600
    on_disk = json.loads(Path(str(dump) + ".json").read_text())
    assert on_disk["engine"] == "mysql" and on_disk["database"] == site.name
    assert on_disk["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest() and on_disk["size"] == dump.stat().st_size
    assert len(on_disk["migrations"]["accounts"]) == 16 and on_disk["migrations"]["accounts"][-1].startswith("0016_")
    assert time.strptime(on_disk["created"], "%Y-%m-%dT%H:%M:%SZ") and on_disk["compression"] == "zstd -1"
    assert site.password not in unzstd(dump.read_bytes()).decode() and site.password not in json.dumps(on_disk)

    original = site.fingerprint()
    site.query("DELETE FROM accounts_plan")
    site.query("CREATE TABLE stray_after_backup (id int)")
    changed = site.fingerprint()
    asked = site.inv("restore", dump.name)  # no terminal to confirm on: refused, after what it would do is said
    assert asked.returncode == 1 and "pass --yes" in asked.stderr, asked.stderr + asked.stdout
    assert ("WARN MySQL/MariaDB cannot hold the app's writes off while the dump is loaded" in
            " ".join(asked.stdout.split())), asked.stdout
    assert site.fingerprint() == changed
    result = site.inv("restore", dump.name, "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "matches its manifest" in result.stdout and f"restored {dump}" in result.stdout
    assert "WARN MySQL/MariaDB could not hold the app's writes off" in " ".join(result.stdout.split())  # --yes too
    assert plan_count(site) == 3 and "stray_after_backup" not in site.tables()
    assert site.fingerprint() == original
    [safety] = [name for name in site.backups() if name.endswith("-pre-restore.sql.zst")]
    assert f"safety backup of what was there: {site.root / 'backups' / safety}" in result.stdout
    again = site.inv("restore", safety, "--yes")
    assert again.returncode == 0, again.stderr + again.stdout
    assert site.fingerprint() == changed

    pruned = site.inv("backup", "--keep", "1")
    assert pruned.returncode == 0, pruned.stderr
    kept = [name for name in site.backups() if name.endswith(".sql.zst")]  # the newest of each kind: this one, and
    assert len(kept) == 2 and sum("-pre-restore" in name for name in kept) == 1, kept  # a safety one (-2: the
    # second restore's in the same second)
    listed = json.loads(site.inv("backups", "--json", "--verify").stdout)["backups"]
    assert len(listed) == 2 and all(b["sha256_ok"] and b["engine"] == "mysql" for b in listed), listed


def fails_cleanly(site, *args, fragments=(), env=None):
    before = (site.fingerprint(), site.backups())
    line = assert_user_error(site.inv(*args, env=env), *fragments)
    assert (site.fingerprint(), site.backups()) == before
    return line


def rewrite(path: Path, data: bytes, manifest: dict):
    path.write_bytes(data)
    Path(str(path) + ".json").write_text(json.dumps(dict(
        manifest, file=path.name, size=len(data), sha256=hashlib.sha256(data).hexdigest())))


def test_bad_dumps_are_refused_and_the_database_is_untouched(my_site, tmp_path):
    site = my_site
    manifest = backup_json(site)
    site.query("DELETE FROM accounts_plan")
    data = Path(manifest["path"]).read_bytes()

    truncated = tmp_path / "truncated.sql.zst"
    rewrite(truncated, data[: len(data) * 2 // 3], manifest)
    fails_cleanly(site, "restore", str(truncated), "--yes", fragments=("is damaged", "zstd stream is damaged"))

    text = unzstd(data)
    incomplete = tmp_path / "incomplete.sql.zst"
    rewrite(incomplete, zstd(text[: text.index(b"-- Dump completed")]), manifest)
    fails_cleanly(site, "restore", str(incomplete), "--yes", fragments=("Dump completed", "incomplete"))

    old_truncated = tmp_path / "truncated.sql.gz"  # an earlier version's gzip dump
    packed = gzip.compress(text)
    rewrite(old_truncated, packed[: len(packed) * 2 // 3], manifest)
    fails_cleanly(site, "restore", str(old_truncated), "--yes", fragments=("is damaged", "gzip stream is damaged"))

    postgres = tmp_path / "site-20260101T000000Z.dump"
    rewrite(postgres, b"PGDMP" + bytes(200), dict(manifest, engine="postgresql"))
    fails_cleanly(site, "restore", str(postgres), "--yes",
                  fragments=("is a postgresql backup", "'default' database is mysql"))
    os.unlink(str(postgres) + ".json")
    fails_cleanly(site, "restore", str(postgres), "--yes", "--unverified", fragments=("is a postgresql backup",))

    empty = tmp_path / "bin"
    empty.mkdir()
    fails_cleanly(site, "backup", env={"PATH": str(empty)},
                  fragments=("mysqldump not found", "apt-get install -y default-mysql-client"))

    env_file = site.root / ".env"
    good = env_file.read_text()
    env_file.write_text(good.replace(quote(site.password, safe=""), "not-it"))
    line = fails_cleanly(site, "backup", fragments=("mysqldump", "Access denied"))
    assert "not-it" not in line
    env_file.write_text(good)


def test_a_restore_failing_halfway_loads_the_safety_backup_back(my_site, tmp_path):
    site = my_site
    manifest = backup_json(site)
    site.query("DELETE FROM accounts_plan")
    site.query("CREATE TABLE stray_after_backup (id int)")
    before = site.fingerprint()
    text = unzstd(Path(manifest["path"]).read_bytes())
    cut = text.index(b"-- Dump completed")  # after every table was dropped, re-created and filled
    failing = tmp_path / "failing.sql.zst"
    rewrite(failing, zstd(text[:cut] + b"INSERT INTO no_such_table VALUES (1);\n" + text[cut:]), manifest)

    line = assert_user_error(site.inv("restore", str(failing), "--yes"), "restore failed", "no_such_table",
                             "safety backup was loaded back")
    assert site.fingerprint() == before and "stray_after_backup" in site.tables()
    assert [name for name in site.backups() if name.endswith("-pre-restore.sql.zst")][0] in line


def test_earlier_gzip_dumps_and_dumps_without_a_manifest_restore(my_site, tmp_path):
    site = my_site
    manifest = backup_json(site)
    original = site.fingerprint()
    text = unzstd(Path(manifest["path"]).read_bytes())

    earlier = tmp_path / "earlier.sql.gz"  # what versions before zstd made
    rewrite(earlier, gzip.compress(text), dict(manifest, compression="default"))
    site.query("DELETE FROM accounts_plan")
    restored = site.inv("restore", str(earlier), "--yes")
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert site.fingerprint() == original

    bare = tmp_path / "bare.sql.zst"  # no manifest: what the file holds says which engine made it
    bare.write_bytes(Path(manifest["path"]).read_bytes())
    site.query("DELETE FROM accounts_plan")
    restored = site.inv("restore", str(bare), "--yes", "--unverified")
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert site.fingerprint() == original

    postgres = tmp_path / "pg.dump.zst"
    postgres.write_bytes(zstd(b"PGDMP" + bytes(200)))
    fails_cleanly(site, "restore", str(postgres), "--yes", "--unverified",
                  fragments=("is a postgresql backup", "'default' database is mysql"))


def test_without_zstd_the_dump_is_gzipped_says_so_and_restores(my_site, tmp_path):
    site = my_site
    env = {"PATH": path_without_zstd(tmp_path / "bin")}
    done = site.inv("backup", "--json", env=env)
    assert done.returncode == 0, done.stderr + done.stdout
    manifest = json.loads(done.stdout)
    assert manifest["file"].endswith(".sql.gz") and manifest["compression"] == "gzip level 6"
    assert "zstd not found" in manifest["notice"] and b"-- Dump completed" in gzip.decompress(
        Path(manifest["path"]).read_bytes())
    assert len(manifest["migrations"]["accounts"]) == 16

    original = site.fingerprint()
    site.query("DELETE FROM accounts_plan")
    restored = site.inv("restore", manifest["file"], "--yes", env=env)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert site.fingerprint() == original
    assert any(name.endswith("-pre-restore.sql.gz") for name in site.backups())


WRAPPER = """#!/bin/sh
line="argv: $0"
for word in "$@"; do line="$line $word"; done
case "$1" in --defaults-extra-file=*)
  file="${{1#--defaults-extra-file=}}"
  line="$line || options: $(stat -L -c %a "$file") $(base64 -w0 < "$file")";;
esac
printf '%s\\n' "$line" >> {log}  # one write: tools may run side by side
exec {real} "$@"
"""


def test_the_password_reaches_the_tools_in_a_private_options_file(my_site, tmp_path):
    site = my_site
    log, wrappers = tmp_path / "tools.log", tmp_path / "wrappers"
    wrappers.mkdir()
    for tool, real in (("mysqldump", DUMP), ("mysql", MYSQL)):
        (wrappers / tool).write_text(WRAPPER.format(log=log, real=real))
        (wrappers / tool).chmod(0o755)
    env = {"PATH": f"{wrappers}:{os.environ['PATH']}"}
    manifest = backup_json(site, env=env)
    restore = site.inv("restore", manifest["path"], "--yes", env=env)
    assert restore.returncode == 0, restore.stderr + restore.stdout

    calls = [line for line in log.read_text().splitlines() if " --version" not in line]
    assert len(calls) == 3  # mysqldump (backup), mysqldump (safety backup), mysql (restore)
    for line in calls:
        argv, options = line.split(" || ")
        assert site.password not in argv
        assert argv.split()[2].startswith("--defaults-extra-file=")
        assert "--host=127.0.0.1" in argv and "--port=3306" in argv and f"--user={site.name}" in argv
        _, file_mode, content = options.split(" ")
        content = base64.b64decode(content).decode()
        assert file_mode == "600" and content.startswith("[client]\npassword=") and "p:w" in content
        path = argv.split()[2].split("=", 1)[1]
        if path.startswith("/dev/fd/"):  # the restore's load, which outlives its parent, inherits the memory file
            assert re.fullmatch(r"/dev/fd/\d+", path) and "--database=" in argv
            continue
        assert re.fullmatch(r"/proc/\d+/fd/\d+", path)  # a memory file of the tool's parent: on no disk
        assert not os.path.exists(path)  # gone with it
    for output in (restore.stdout, restore.stderr):
        assert site.password not in output


def test_the_tools_get_their_own_settings_and_nothing_else_of_the_environment(my_site, tmp_path):
    """Issue 10 §6: DATABASE_URL (the password) and the rest of the project's environment never reach them."""
    site = my_site
    log = tmp_path / "env.log"
    env = env_recording_tools(tmp_path / "wrappers", log, {"mysqldump": DUMP, "mysql": MYSQL})
    env.update(SECRET_KEY="project-secret-" + secrets.token_hex(4), MYSQL_HISTFILE="/dev/null")
    manifest = backup_json(site, env=env)
    restore = site.inv("restore", manifest["path"], "--yes", env=env)
    assert restore.returncode == 0, restore.stderr + restore.stdout

    runs = recorded_tool_envs(log)
    assert {tool for tool, _ in runs} == {"mysqldump", "mysql"}
    for tool, environ in runs:
        assert "DATABASE_URL" not in environ and "SECRET_KEY" not in environ, (tool, sorted(environ))
        assert set(environ) <= TOOL_ENV_BASICS | {k for k in environ if k.startswith(("MYSQL", "MARIADB"))}, \
            (tool, sorted(environ))
        assert not [value for value in environ.values() if site.password in value], tool
        assert environ["MYSQL_HISTFILE"] == "/dev/null"


def test_a_failed_migrate_on_mysql_names_the_migration_and_what_stayed(my_site):
    """Issue 10 §6: MySQL DDL is not transactional; the error says which migration failed and what stayed applied."""
    from tests.test_local_failed_migrate import add_failing_migrations

    site = my_site
    add_failing_migrations(site.root)
    line = assert_user_error(site.inv("migrate"), "migrate failed at accounts.0018_boom",
                             "deliberate failure in a test migration",
                             "the 1 migration(s) this run applied before it stayed applied (accounts.0017_note)",
                             "accounts.0018_boom may be partly applied: MySQL/MariaDB cannot roll back schema "
                             "changes", "the `check` task's schema row lists", "restore the backup taken before")
    assert "PostgreSQL" not in line
    applied = [name for (name,) in site.query(
        "SELECT name FROM django_migrations WHERE app = 'accounts' ORDER BY id")]
    assert applied[-1] == "0017_note", line


KILLED_AS_THE_LOAD_STARTS = """
import os, signal, subprocess, sys

import django

sys.path[:0] = [os.getcwd(), sys.argv[1]]  # the project, then this checkout
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()
from django.db import connections
from deploytasks.server.django_info import database_info
from deploytasks.server.engines import engine_for

started = subprocess.Popen


def killed_once_the_load_is_started(*args, **kwargs):
    process = started(*args, **kwargs)
    if kwargs.get("start_new_session"):  # the detached load: this process dies before its client has started
        os.kill(os.getpid(), signal.SIGKILL)
    return process


subprocess.Popen = killed_once_the_load_is_started
engine_for(database_info("default"), connections["default"]).load(sys.argv[2])
"""


def test_a_load_whose_restore_process_is_killed_before_the_client_starts_still_loads_the_dump(my_site, tmp_path):
    """The restore's load outlives its process (an OOM kill, a lost session): the client used to read its options
    (the password) through the dead process's /proc entry, fail to connect and load nothing, while the user was
    told the restore may have finished (seen under load; here the process dies the instant the load starts)."""
    site = my_site
    manifest = backup_json(site)
    backed_up = site.fingerprint()
    site.query("DELETE FROM accounts_plan")
    script = tmp_path / "killed.py"
    script.write_text(KILLED_AS_THE_LOAD_STARTS)
    killed = subprocess.run([site.python, str(script), str(ROOT), manifest["path"]], cwd=site.root,
                            env=clean_env(**dict([(site.root / ".env").read_text().strip().split("=", 1)])),
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    def as_backed_up():
        try:
            return site.fingerprint() == backed_up
        except AssertionError:  # a table the load dropped and has not made again yet
            return False

    deadline = time.monotonic() + 60
    while not as_backed_up() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert as_backed_up() and plan_count(site) == 3, site.tables()
