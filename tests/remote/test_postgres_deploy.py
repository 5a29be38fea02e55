"""Deploys onto PostgreSQL (issue 10 §6): a deploy with migrations says they were not rehearsed (PostgreSQL
has no rehearsal on a copy yet); a migration failing in the real migrate is named, with what stayed applied."""
import os
import threading
from contextlib import contextmanager

import pytest

from tests.remote.postgres import PG, SKIP, deployed_on_postgres, psycopg

ADDRESS = "127.0.0.53"
pytestmark = SKIP


@pytest.fixture(scope="module")
def pg_deployed(server):
    with deployed_on_postgres(server) as deployed:
        yield deployed


def applied(s):
    with psycopg.connect(**dict(PG, dbname=s.pg["name"])) as connection:
        return [f"{app}.{name}" for app, name in connection.execute(
            "SELECT app, name FROM django_migrations ORDER BY id").fetchall()]


def test_the_first_deploy_onto_an_empty_database_takes_no_backup(pg_deployed):
    assert "no backup: the database held nothing yet" in pg_deployed.pg["first"].stdout
    assert not [name for name in pg_deployed.backups() if name.endswith(".dump")]


def test_a_deploy_with_migrations_says_they_were_not_rehearsed(pg_deployed):
    s = pg_deployed
    s.repo.add_model("Widget")
    run = s.fab("deploy").ok()
    assert "not rehearsed on postgresql" in run.stdout, run.stdout
    assert "accounts.0017_add_widget" in applied(s)


def test_a_failing_migration_is_named_and_what_it_applied_is_unapplied(pg_deployed):
    s = pg_deployed
    live, before = s.current_name(), applied(s)
    s.repo.failing_migration("Gadget", branch="boom")
    line = s.fab("deploy", "--revision", "boom").error("migrate failed at accounts.0019_boom",
                                         "deliberate failure in a test migration",
                                         "the 1 migration(s) applied before it were unapplied again "
                                         "(accounts.0018_add_gadget)")
    assert "restore" not in line
    assert applied(s) == before and s.current_name() == live


def test_a_failing_non_atomic_migration_says_that_what_it_did_before_the_error_stayed(pg_deployed):
    s = pg_deployed
    live, before = s.current_name(), applied(s)
    s.repo.commit("a non-atomic migration failing halfway", lambda work: s.repo.write_migration(
        "halfway", "def boom(apps, schema_editor):\n    raise RuntimeError('deliberate failure after a table was made')\n",
        "[migrations.RunSQL('CREATE TABLE halfway_made (id int)', 'DROP TABLE halfway_made'), "
        "migrations.RunPython(boom, migrations.RunPython.noop)]\n    atomic = False"), "halfway")
    line = s.fab("deploy", "--revision", "halfway").error(
        "_halfway is not atomic, atomic = False: what it did before the error stayed applied",
        "no migration of this deploy stayed applied; if the schema looks wrong, restore ")
    assert "migrate failed at accounts.0" in line
    assert applied(s) == before and s.current_name() == live
    with psycopg.connect(**dict(PG, dbname=s.pg["name"])) as connection:  # what the message says: it stayed
        assert connection.execute("SELECT to_regclass('halfway_made')").fetchone()[0] == "halfway_made"
        connection.execute("DROP TABLE halfway_made")


@contextmanager
def tool_environments(names):
    """[(name, {variable: value})] read from /proc/<pid>/environ of every process called one of `names` that
    runs on this machine (client or server side) while the block runs."""
    seen, done = {}, threading.Event()

    def watch():
        while not done.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or pid in seen:
                    continue
                try:
                    with open(f"/proc/{pid}/comm") as handle:
                        name = handle.read().strip()
                    if name in names:
                        with open(f"/proc/{pid}/environ", "rb") as handle:
                            items = [i.decode(errors="replace") for i in handle.read().split(b"\0") if b"=" in i]
                        seen[pid] = (name, dict(item.split("=", 1) for item in items))
                except OSError:
                    pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    runs = []
    try:
        yield runs
    finally:
        done.set()
        watcher.join()
        runs.extend(seen.values())


def test_the_server_side_dump_tools_never_get_the_database_url(pg_deployed):
    s = pg_deployed
    with tool_environments({"pg_dump", "pg_restore", "psql"}) as runs:
        s.fab("backup", "--json").ok()
    assert "pg_dump" in {name for name, _ in runs}, runs
    for name, environ in runs:
        assert "DATABASE_URL" not in environ and "SECRET_KEY" not in environ, (name, sorted(environ))
        assert not [value for value in environ.values() if s.pg["password"] in value], name
