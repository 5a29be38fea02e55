"""`inv check`'s "schema" item on SQLite, PostgreSQL and MariaDB: a clean database matches what its applied
migrations produce on a scratch database; hand-made changes are each reported in one line."""
from __future__ import annotations

import json
import sqlite3

import pytest

from tests._server_dbs import MariaDB, Postgres
from tests.test_local_mysql_backup import mysql_venv, root, server_reachable as mysql_reachable  # noqa: F401 (fixture)
from tests.test_local_postgres_backup import pg_venv, server_reachable as pg_reachable  # noqa: F401 (fixture)


class SQLite:
    def __init__(self, site):
        self.site = site

    def execute(self, sql):
        with sqlite3.connect(self.site.db) as connection:
            connection.execute(sql)
        connection.close()

    def expire_index(self):
        with sqlite3.connect(self.site.db) as connection:
            (name,) = connection.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = "
                                         "'django_session' AND sql LIKE '%expire_date%'").fetchone()
        connection.close()
        return name

    def scratch(self):
        return []

    def close(self):
        pass


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request, tmp_path):
    if request.param == "sqlite":
        yield SQLite(request.getfixturevalue("migrated_site"))
        return
    if request.param == "postgresql":
        if not pg_reachable():
            pytest.skip("no PostgreSQL client tools or server on 127.0.0.1:5432")
        engine = Postgres(tmp_path, request.getfixturevalue("pg_venv"))
        engine.grant_createdb()
        engine.execute = engine.site.execute
        engine.expire_index = lambda: engine.site.query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'django_session' AND indexdef LIKE '%%expire_date%%'"
            " AND indexname NOT LIKE '%%like'")[0][0]
    else:
        if not mysql_reachable():
            pytest.skip("no MariaDB/MySQL server on 127.0.0.1:3306")
        engine = MariaDB(tmp_path, request.getfixturevalue("mysql_venv"))
        engine.grant_createdb()
        engine.execute = lambda sql: root(sql, engine.name)
        engine.expire_index = lambda: root("SELECT index_name FROM information_schema.statistics WHERE table_schema = "
                                           f"'{engine.name}' AND table_name = 'django_session' AND column_name = "
                                           "'expire_date'", engine.name)[0][0]
    try:
        migrated = engine.site.inv("migrate")
        assert migrated.returncode == 0, migrated.stderr + migrated.stdout
        yield engine
    finally:
        engine.close()


def schema_item(site, env=None):
    result = site.inv("check", "--json", env=env)
    document = json.loads(result.stdout)
    return {item["item"]: item for item in document["items"]}["schema"]


def test_a_clean_database_matches_its_migrations(db):
    item = schema_item(db.site)
    assert item["verdict"] == "PASS", item
    assert "tables match the applied migrations" in item["detail"]
    assert db.scratch() == []


def test_hand_made_changes_are_each_reported_in_one_line(db):
    db.execute("ALTER TABLE auth_group ADD COLUMN note varchar(10) NULL")
    db.execute("CREATE TABLE handmade (id integer PRIMARY KEY)")
    db.execute(f"DROP INDEX {db.expire_index()}" + (" ON django_session" if isinstance(db, MariaDB) else ""))
    item = schema_item(db.site)
    assert item["verdict"] == "WARN"
    differences = item["differences"]
    assert len(differences) == 3, differences
    assert differences[0] == "table handmade is in the database but not in the migrations"
    assert differences[1].startswith("column auth_group.note (") and differences[1].endswith(
        "NULL) is in the database but not in the migrations")
    assert differences[2] == "index on django_session(expire_date) is missing"
    assert db.scratch() == []


def test_without_the_right_to_create_a_scratch_database_the_item_says_why(tmp_path, pg_venv):  # noqa: F811
    if not pg_reachable():
        pytest.skip("no PostgreSQL client tools or server on 127.0.0.1:5432")
    engine = Postgres(tmp_path, pg_venv)
    try:
        assert engine.site.inv("migrate").returncode == 0
        item = schema_item(engine.site, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})  # none cached for it
        assert item["verdict"] == "WARN"
        assert item["detail"].startswith("not compared: the database user ") and "CREATEDB" in item["detail"]
    finally:
        engine.close()


def test_the_expected_schema_is_cached_by_the_migrations_it_comes_from(migrated_site, tmp_path):
    """The scratch database's schema is kept in the user's cache under what it depends on: the next check reads it
    (here a planted entry proves it), and a changed migration file makes a new one."""
    site, env = migrated_site, {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert schema_item(site, env)["verdict"] == "PASS"
    [entry] = (tmp_path / "cache" / "deploytasks" / "schemas").glob("*.json")
    planted = json.loads(entry.read_text())
    planted["planted_table"] = {"columns": {"id": "AutoField NOT NULL"}, "constraints": []}
    entry.write_text(json.dumps(planted))
    item = schema_item(site, env)
    assert item["differences"] == ["table planted_table is missing (the migrations create it)"], item
    migration = next((site.root / "accounts" / "migrations").glob("0001_*.py"))
    migration.write_text(migration.read_text() + "\n# an edit\n")
    assert schema_item(site, env)["verdict"] == "PASS"
    assert len(list((tmp_path / "cache" / "deploytasks" / "schemas").glob("*.json"))) == 2
