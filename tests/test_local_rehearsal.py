"""Rehearsals on PostgreSQL and MariaDB/MySQL: the deploy's server step migrates a scratch copy restored from
the pre-deploy dump first, drops it whatever happened, and leaves production untouched when the copy fails."""
from __future__ import annotations

import pytest

from deploytasks.errors import DeployTasksError
from tests._rehearsal_app import add_app, add_unique, predeploy
from tests._server_dbs import MariaDB, Postgres
from tests._util import pg_restore_run
from tests.test_local_mysql_backup import mysql_venv, server_reachable as mysql_reachable  # noqa: F401 (fixture)
from tests.test_local_postgres_backup import admin, pg_venv, server_reachable as pg_reachable  # noqa: F401 (fixture)


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request, tmp_path):
    yield from database(request, request.param, tmp_path)


@pytest.fixture
def pg_db(request, tmp_path):
    yield from database(request, "postgresql", tmp_path)


def database(request, kind, tmp_path):
    if kind == "postgresql":
        if not pg_reachable():
            pytest.skip("no PostgreSQL client tools or server on 127.0.0.1:5432")
        engine = Postgres(tmp_path, request.getfixturevalue("pg_venv"))
    else:
        if not mysql_reachable():
            pytest.skip("no MariaDB/MySQL server on 127.0.0.1:3306")
        engine = MariaDB(tmp_path, request.getfixturevalue("mysql_venv"))
    try:
        add_app(engine.site.root)
        migrated = engine.site.inv("migrate")
        assert migrated.returncode == 0, migrated.stderr + migrated.stdout
        yield engine
    finally:
        engine.close()


def test_pending_migrations_are_rehearsed_on_a_copy_that_is_dropped_afterwards(db):
    db.grant_createdb()
    db.insert("one", "two")
    leftover = db.name + "_deploytasks_rehearsal_20200101000000"  # what a killed rehearsal left behind
    db.make_leftover(leftover)
    add_unique(db.site.root)
    result = predeploy(db.site)
    assert result["pending"] == ["rehearse.0002_unique"]
    assert result["rehearsed"] is True and "rehearsal_skipped" not in result
    # the copy was restored as the dump was made (PostgreSQL: by the pg_restore that reads it back; MariaDB: a
    # mysql client fed the dump's bytes as they came), not from the file afterwards
    assert result["copied_while_dumping"] is True
    assert result["state_after"]["rehearse"] == ["0001_initial", "0002_unique"]
    assert db.scratch() == []


def test_a_migration_failing_on_existing_data_is_caught_on_the_copy_and_production_is_untouched(db):
    db.grant_createdb()
    db.insert("same", "same")
    add_unique(db.site.root)
    before = db.fingerprint()
    with pytest.raises(DeployTasksError, match="migration rehearse.0002_unique failed in the rehearsal on a copy of "
                                               "the database, nothing was applied: IntegrityError"):
        predeploy(db.site)
    assert db.fingerprint() == before
    assert db.scratch() == []


def test_a_copy_that_cannot_be_restored_fails_the_rehearsal_with_the_reason_and_keeps_the_sound_backup(pg_db):
    """PostgreSQL: the copy is restored by the pg_restore that reads the dump back; when that restore fails (an
    extension only a superuser may create) but the dump itself reads back whole, the backup is kept and the
    rehearsal fails with pg_restore's reason, the copy dropped and nothing applied."""
    db = pg_db
    admin("CREATE EXTENSION file_fdw", dbname=db.name)
    db.grant_createdb()
    add_unique(db.site.root)
    before = db.fingerprint()
    with pytest.raises(DeployTasksError, match="restoring the dump into the scratch database .* failed: .*permission denied"):
        predeploy(db.site)
    assert db.fingerprint() == before
    assert db.scratch() == []
    [kept] = [p for p in (db.site.root / "backups").iterdir() if p.name.endswith(".dump.zst")]
    assert pg_restore_run(kept, "--list").returncode == 0


def test_without_the_right_to_create_databases_the_rehearsal_is_skipped_with_the_reason(db):
    add_unique(db.site.root)
    result = predeploy(db.site)
    assert result["rehearsed"] is False
    assert "cannot create a scratch database" in result["rehearsal_skipped"]
    vendor = result["database"]["vendor"] if "database" in result else ""
    assert ("ALTER ROLE" in result["rehearsal_skipped"]) != ("GRANT ALL ON" in result["rehearsal_skipped"]), \
        (vendor, result["rehearsal_skipped"])  # the grant of its own engine only
    if "GRANT ALL ON" in result["rehearsal_skipped"]:  # `_` escaped: the grant names these copies alone
        assert "\\_deploytasks\\_" in result["rehearsal_skipped"], result["rehearsal_skipped"]
    assert result["state_after"]["rehearse"] == ["0001_initial", "0002_unique"]


def test_strict_migrations_refuse_to_migrate_without_a_rehearsal(db):
    add_unique(db.site.root)
    before = db.fingerprint()
    with pytest.raises(DeployTasksError, match="strict_migrations refuses to migrate without one; nothing was applied"):
        predeploy(db.site, strict_migrations=True, safe_migrations=["rehearse.0002"])
    assert db.fingerprint() == before
    backups = db.site.root / "backups"
    assert not backups.exists() or not [p.name for p in backups.iterdir() if not p.name.startswith(".")], \
        "refused before the dump it would not use"


def test_a_migration_failing_on_the_live_database_without_a_rehearsal_says_it_was_not_rehearsed(db):
    """The deploy's report of the skipped rehearsal never comes when the migration fails: its error says it."""
    db.insert("same", "same")
    add_unique(db.site.root)
    with pytest.raises(DeployTasksError, match=r"migrate failed at rehearse.0002_unique: .*\(on the live database, "
                                               r"not rehearsed on a copy: .*cannot create a scratch database.*; backup "
                                               r"taken before: .*pre-deploy"):
        predeploy(db.site)
