"""`inv setup` in a fresh clone whose PostgreSQL or MySQL/MariaDB database does not exist yet: created as the
settings' own user when it may, then migrated; when it may not, one line saying what to type, nothing created."""
from __future__ import annotations

import secrets
from contextlib import contextmanager

import pytest

from tests._util import assert_user_error, copy_example
from tests.test_local_mysql_backup import MySite, mysql_venv, root  # noqa: F401 - mysql_venv is a fixture
from tests.test_local_mysql_backup import server_reachable as mysql_reachable
from tests.test_local_postgres_backup import PgSite, admin, pg_venv, psycopg  # noqa: F401 - pg_venv is a fixture
from tests.test_local_postgres_backup import server_reachable as postgres_reachable


def pg_databases(name):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as connection:
        return [row[0] for row in connection.execute("SELECT datname FROM pg_database WHERE datname = %s", (name,))]


@contextmanager
def login(run, create, drops):
    """A new login (name, password) made by run(create), with no database yet; run(each of drops) afterwards, which
    also drop a database named after it."""
    name, password = "dt_" + secrets.token_hex(6), "pw-" + secrets.token_hex(12)
    run(create.format(name=name, password=password))
    try:
        yield name, password
    finally:
        for statement in drops:
            run(statement.format(name=name))


@pytest.fixture
def pg_role():
    with login(admin, "CREATE ROLE {name} LOGIN PASSWORD '{password}'",
               ["DROP DATABASE IF EXISTS {name} WITH (FORCE)", "DROP ROLE IF EXISTS {name}"]) as made:
        yield made


@pytest.mark.skipif(not postgres_reachable(), reason="no PostgreSQL client tools or server on 127.0.0.1:5432")
def test_setup_creates_a_missing_postgresql_database_and_migrates_it(tmp_path, pg_venv, pg_role):
    name, password = pg_role
    admin(f"ALTER ROLE {name} CREATEDB")
    site = PgSite(copy_example(tmp_path / "site"), pg_venv, name, password)
    assert pg_databases(name) == []
    done = site.inv("setup", "--no-superuser")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"created the database '{name}' (it did not exist);" in done.stdout
    assert pg_databases(name) == [name]
    assert "accounts_plan" in site.tables()
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as connection:
        [(owner,)] = connection.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                                        (name,)).fetchall()
    assert owner == name  # its own user's, as `createdb` typed by that user makes it
    again = site.inv("setup", "--no-superuser")
    assert again.returncode == 0 and "created the database" not in again.stdout


@pytest.mark.skipif(not postgres_reachable(), reason="no PostgreSQL client tools or server on 127.0.0.1:5432")
def test_a_role_that_may_not_create_databases_gets_the_command_to_type(tmp_path, pg_venv, pg_role):
    name, password = pg_role
    site = PgSite(copy_example(tmp_path / "site"), pg_venv, name, password)
    line = assert_user_error(site.inv("setup", "--no-superuser"), f"the database '{name}' does not exist",
                             "permission denied to create database", f"sudo -u postgres createdb -O {name} {name}")
    assert "Traceback" not in line
    assert pg_databases(name) == []


@pytest.fixture
def mysql_user():
    """A MariaDB user; the database named after it does not exist yet."""
    with login(root, "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'",
               ["DROP DATABASE IF EXISTS `{name}`", "DROP USER IF EXISTS '{name}'@'%'"]) as made:
        yield made


def mysql_schemas(name):
    return root(f"SELECT schema_name, default_character_set_name FROM information_schema.schemata"
                f" WHERE schema_name = '{name}'")


@pytest.mark.skipif(not mysql_reachable(), reason="no MySQL/MariaDB client tools or server on 127.0.0.1:3306")
def test_setup_creates_a_missing_mariadb_database_in_utf8mb4(tmp_path, mysql_venv, mysql_user):
    name, password = mysql_user
    root(f"GRANT ALL ON `{name}`.* TO '{name}'@'%'")
    site = MySite(copy_example(tmp_path / "site"), mysql_venv, name, password)
    done = site.inv("setup", "--no-superuser")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"created the database '{name}' (it did not exist);" in done.stdout
    assert mysql_schemas(name) == [[name, "utf8mb4"]]
    assert ["accounts_plan"] in site.query("SHOW TABLES")


@pytest.mark.skipif(not mysql_reachable(), reason="no MySQL/MariaDB client tools or server on 127.0.0.1:3306")
def test_a_mariadb_user_without_the_grant_gets_the_statements_to_type(tmp_path, mysql_venv, mysql_user):
    name, password = mysql_user
    site = MySite(copy_example(tmp_path / "site"), mysql_venv, name, password)
    assert_user_error(site.inv("setup", "--no-superuser"),
                      f"'{name}' may not use the database '{name}' (it may not exist either), and may not create it",
                      f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4; GRANT ALL ON `{name}`.* TO '{name}'@'%'")
    assert mysql_schemas(name) == []
