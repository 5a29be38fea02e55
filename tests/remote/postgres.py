"""The shared PostgreSQL server (127.0.0.1:5432, trust) for remote test modules: reachability, admin SQL, a
database with its own login role made for a module and dropped afterwards, and the example deployed onto it."""
import secrets
import shutil
from contextlib import contextmanager

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is in the test extras: pip install -e '.[test]'")

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def reachable():
    try:
        psycopg.connect(**PG, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


SKIP = pytest.mark.skipif(not (shutil.which("pg_dump") and reachable()),
                          reason="needs the PostgreSQL client tools and a server on 127.0.0.1:5432")


def admin(sql):
    with psycopg.connect(**PG, autocommit=True) as connection:
        connection.execute(sql)


@contextmanager
def own_database():
    """(name, password) of a new database owned by a new login role of the same name; both dropped afterwards."""
    name, password = "dt_" + secrets.token_hex(6), "pw-" + secrets.token_hex(12)
    admin(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    admin(f"CREATE DATABASE {name} OWNER {name}")
    try:
        yield name, password
    finally:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin(f"DROP ROLE IF EXISTS {name}")


def use_postgres(server, name, password):
    """Point the deploy at the database: psycopg in the requirements (a commit), production's .env naming it."""
    server.repo.requirements_change("psycopg[binary]")
    server.production_env.write_text(
        f"DATABASE_URL=postgres://{name}:{password}@127.0.0.1:5432/{name}\nSECRET_KEY={server.secret_key}\n"
        "DEBUG=false\n")


@contextmanager
def deployed_on_postgres(server):
    """The module's server with the example set up and deployed onto a database of its own (`server.pg`: its
    name, password, and the first deploy's run)."""
    with own_database() as (name, password):
        use_postgres(server, name, password)
        server.fab("setup").ok()
        first = server.fab("deploy").ok()
        server.pg = {"name": name, "password": password, "first": first}
        yield server


def rows(s, sql, *args):
    """The rows of `sql` (with %s `args`) in the module's database, as its own role."""
    with psycopg.connect(**dict(PG, user=s.pg["name"], dbname=s.pg["name"]), autocommit=True) as connection:
        cursor = connection.execute(sql, args or None)
        return cursor.fetchall() if cursor.description else []

