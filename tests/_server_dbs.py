"""Real PostgreSQL and MariaDB databases for a copy of the example project, each with its own login role,
and the scratch databases deploytasks makes beside them (listed and dropped here)."""
from __future__ import annotations

import secrets

from tests.test_local_mysql_backup import MySite, root
from tests.test_local_postgres_backup import PgSite, admin, drop_database, new_database, psycopg
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
