"""Deploys onto PostgreSQL (issue 10 §6): a deploy with migrations says they were not rehearsed (PostgreSQL
has no rehearsal on a copy yet); a migration failing in the real migrate is named, with what stayed applied."""
import secrets
import shutil

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is in the test extras: pip install -e '.[test]'")

ADDRESS = "127.0.0.53"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def reachable():
    try:
        psycopg.connect(**PG, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


pytestmark = pytest.mark.skipif(not (shutil.which("pg_dump") and reachable()),
                                reason="needs the PostgreSQL client tools and a server on 127.0.0.1:5432")


def admin(sql):
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(sql)


@pytest.fixture(scope="module")
def pg_deployed(server):
    name, password = "dt_" + secrets.token_hex(6), "pw-" + secrets.token_hex(12)
    admin(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    admin(f"CREATE DATABASE {name} OWNER {name}")
    try:
        server.repo.requirements_change("psycopg[binary]")
        server.production_env.write_text(
            f"DATABASE_URL=postgres://{name}:{password}@127.0.0.1:5432/{name}\nSECRET_KEY={server.secret_key}\n"
            "DEBUG=false\n")
        server.fab("setup").ok()
        first = server.fab("deploy").ok()
        server.pg = {"name": name, "first": first}
        yield server
    finally:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin(f"DROP ROLE IF EXISTS {name}")


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
