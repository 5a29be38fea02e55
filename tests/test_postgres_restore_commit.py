"""The PostgreSQL restore's one transaction commits only when what it is told to wait for agrees (the early safety
dump read back whole, server/early_safety.Adopted.confirm): otherwise it is rolled back, and the database is as
it was. Run against the real PostgreSQL on 127.0.0.1:5432, in a database and role of the test's own."""
from __future__ import annotations

import secrets
import subprocess

import pytest

from deploytasks.server.engines.postgresql import PostgreSQL
from deploytasks.server.errors import ServerError

psycopg = pytest.importorskip("psycopg", reason="psycopg is in the test extras: pip install -e '.[test]'")
ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def run_admin(sql):
    with psycopg.connect(**ADMIN, autocommit=True, connect_timeout=3) as connection:
        connection.execute(sql)


@pytest.fixture
def database(tmp_path):
    try:
        psycopg.connect(**ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc}")
    name, password = "dt_" + secrets.token_hex(6), "pw-" + secrets.token_hex(12)
    run_admin(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    run_admin(f"CREATE DATABASE {name} OWNER {name}")
    try:
        yield {"alias": "default", "name": name, "host": "127.0.0.1", "port": "5432", "user": name,
               "password": password}
    finally:
        run_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        run_admin(f"DROP ROLE IF EXISTS {name}")


def query(database, sql):
    with psycopg.connect(host=database["host"], port=database["port"], user=database["user"],
                         password=database["password"], dbname=database["name"], autocommit=True) as connection:
        return connection.execute(sql).fetchall() if sql.lstrip().upper().startswith("SELECT") else connection.execute(sql)


def restore_case(database, tmp_path):
    """An archive holding the row 'in the backup'; then the live database holds 'live' instead."""
    query(database, "CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    query(database, "INSERT INTO notes (body) VALUES ('in the backup')")
    archive = tmp_path / "backup.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--no-acl", "-h", "127.0.0.1", "-U", database["user"],
                    "-d", database["name"], "-f", str(archive)], check=True, capture_output=True,
                   env={"PGPASSWORD": database["password"], "PATH": "/usr/bin:/bin"})
    query(database, "UPDATE notes SET body = 'live'")
    engine = PostgreSQL(database)
    engine.settings = {"PASSWORD": database["password"]}
    return engine, archive


def test_the_restore_commits_once_what_it_waits_for_agrees(database, tmp_path):
    engine, archive = restore_case(database, tmp_path)
    asked = []

    def agree():  # seen from another session: the restore is not committed (its locks make the read wait)
        try:
            with psycopg.connect(host=database["host"], port=database["port"], user=database["user"],
                                 password=database["password"], dbname=database["name"], autocommit=True,
                                 options="-c lock_timeout=300") as connection:
                asked.append(connection.execute("SELECT body FROM notes").fetchall())
        except psycopg.errors.LockNotAvailable:
            asked.append("locked")

    engine.restore(str(archive), "safety.dump", before_commit=agree)
    assert asked in ([[("live",)]], ["locked"])
    assert query(database, "SELECT body FROM notes") == [("in the backup",)]


def test_a_refusal_before_the_commit_rolls_the_whole_restore_back(database, tmp_path):
    engine, archive = restore_case(database, tmp_path)

    def refuse():
        raise ServerError("the safety backup of the live database was not read back whole (pg_restore: damaged)")

    with pytest.raises(ServerError) as raised:
        engine.restore(str(archive), "safety.dump", before_commit=refuse)
    assert str(raised.value).startswith("restore rolled back, the database is as it was: the safety backup")
    assert "damaged" in str(raised.value) and "\n" not in str(raised.value)
    assert query(database, "SELECT body FROM notes") == [("live",)]
    assert query(database, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND state LIKE 'idle in transaction%'") == [(0,)]
