"""Deploys onto PostgreSQL (issue 10 §6): a deploy with migrations says they were not rehearsed (PostgreSQL
has no rehearsal on a copy yet); a migration failing in the real migrate is named, with what stayed applied."""
import pytest

from tests.remote.postgres import PG, SKIP, own_database, psycopg, use_postgres

ADDRESS = "127.0.0.53"
pytestmark = SKIP


@pytest.fixture(scope="module")
def pg_deployed(server):
    with own_database() as (name, password):
        use_postgres(server, name, password)
        server.fab("setup").ok()
        first = server.fab("deploy").ok()
        server.pg = {"name": name, "first": first}
        yield server


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
