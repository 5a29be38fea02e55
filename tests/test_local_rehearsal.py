"""Rehearsals on PostgreSQL and MariaDB/MySQL: the deploy's server step migrates a scratch copy restored from
the pre-deploy dump first, drops it whatever happened, and leaves production untouched when the copy fails."""
from __future__ import annotations

import pytest

from deploytasks.errors import DeployTasksError
from tests._rehearsal_app import add_app, add_unique, predeploy
from tests.test_local_mysql_backup import MySite, mysql_venv, root, server_reachable as mysql_reachable  # noqa: F401
from tests.test_local_postgres_backup import (PgSite, admin, drop_database, new_database, pg_venv,  # noqa: F401
                                              psycopg, server_reachable as pg_reachable)
from tests._util import copy_example


class Postgres:
    def __init__(self, tmp_path, venv):
        self.name, password = new_database()
        self.site = PgSite(copy_example(tmp_path / "site"), venv, self.name, password)

    def grant_createdb(self):
        admin(f"ALTER ROLE {self.name} CREATEDB")

    def scratch(self):
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as connection:
            rows = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                      (self.name + "\\_deploytasks\\_%",)).fetchall()
        return sorted(row[0] for row in rows)

    def make_leftover(self, name):
        admin(f"CREATE DATABASE {name} OWNER {self.name}")

    def insert(self, *names):
        for name in names:
            self.site.execute("INSERT INTO rehearse_thing (name) VALUES (%s)", (name,))

    def fingerprint(self):
        return self.site.fingerprint()

    def close(self):
        for name in self.scratch():
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        drop_database(self.name)


class MariaDB:
    def __init__(self, tmp_path, venv):
        import secrets

        self.name = "dt_" + secrets.token_hex(6)
        password = "pw-" + secrets.token_hex(8)
        root(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")
        root(f"CREATE USER '{self.name}'@'%' IDENTIFIED BY '{password}'")
        root(f"GRANT ALL ON `{self.name}`.* TO '{self.name}'@'%'")
        self.site = MySite(copy_example(tmp_path / "site"), venv, self.name, password)

    def grant_createdb(self):
        pattern = self.name.replace("_", "\\_") + "\\_deploytasks\\_%"
        root(f"GRANT ALL ON `{pattern}`.* TO '{self.name}'@'%'")

    def scratch(self):
        return sorted(row[0] for row in root(
            f"SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{self.name}\\\\_deploytasks\\\\_%'"))

    def make_leftover(self, name):
        root(f"CREATE DATABASE `{name}`")

    def insert(self, *names):
        for name in names:
            root(f"INSERT INTO rehearse_thing (name) VALUES ('{name}')", self.name)

    def fingerprint(self):
        return self.site.fingerprint()

    def close(self):
        for name in self.scratch():
            root(f"DROP DATABASE IF EXISTS `{name}`")
        root(f"DROP DATABASE IF EXISTS `{self.name}`")
        root(f"DROP USER IF EXISTS '{self.name}'@'%'")


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request, tmp_path):
    if request.param == "postgresql":
        if not pg_reachable():
            pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
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
    assert result["state_after"]["rehearse"] == ["0001_initial", "0002_unique"]
    assert db.scratch() == []


def test_a_migration_failing_on_existing_data_is_caught_on_the_copy_and_production_is_untouched(db):
    db.grant_createdb()
    db.insert("same", "same")
    add_unique(db.site.root)
    before = db.fingerprint()
    with pytest.raises(DeployTasksError, match="migration failed in the rehearsal on a copy of the database, nothing was applied"):
        predeploy(db.site)
    assert db.fingerprint() == before
    assert db.scratch() == []


def test_without_the_right_to_create_databases_the_rehearsal_is_skipped_with_the_reason(db):
    add_unique(db.site.root)
    result = predeploy(db.site)
    assert result["rehearsed"] is False
    assert "cannot create a scratch database" in result["rehearsal_skipped"]
    assert result["state_after"]["rehearse"] == ["0001_initial", "0002_unique"]


def test_strict_migrations_refuse_to_migrate_without_a_rehearsal(db):
    add_unique(db.site.root)
    before = db.fingerprint()
    with pytest.raises(DeployTasksError, match="strict_migrations refuses to migrate without one; nothing was applied"):
        predeploy(db.site, strict_migrations=True, safe_migrations=["rehearse.0002"])
    assert db.fingerprint() == before
