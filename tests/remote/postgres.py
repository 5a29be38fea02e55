"""The shared PostgreSQL server (127.0.0.1:5432, trust) for remote test modules: reachability, admin SQL, and a
database with its own login role made for a module and dropped afterwards."""
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
