"""The shared MariaDB server (127.0.0.1:3306, root without a password) for remote test modules: a database with
its own user made for a module and dropped afterwards, and the example deployed onto it (PyMySQL installed as
MySQLdb by the project's mysite/__init__.py, so no C build is needed)."""
import secrets
from contextlib import contextmanager

import pytest

from tests.test_local_mysql_backup import root, server_reachable

# PyMySQL as MySQLdb where it is installed (the server's venvs; the tests' own makemigrations runs without it)
SHIM = "try:\n    import pymysql\nexcept ImportError:\n    pass\nelse:\n    pymysql.install_as_MySQLdb()\n"
SKIP = pytest.mark.skipif(not server_reachable(),
                          reason="needs the MySQL/MariaDB client tools and a server on 127.0.0.1:3306")


@contextmanager
def own_database():
    """(name, password) of a new database and a user of the same name allowed to make its scratch databases
    (<name>_deploytasks_*); all dropped afterwards."""
    name, password = "dt_" + secrets.token_hex(6), "pw-" + secrets.token_hex(12)
    root(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    root(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
    root(f"GRANT ALL ON `{name}`.* TO '{name}'@'%'")
    scratch_pattern = name.replace("_", "\\_") + "\\_deploytasks\\_%"
    root(f"GRANT ALL ON `{scratch_pattern}`.* TO '{name}'@'%'")
    try:
        yield name, password
    finally:
        for (scratch,) in scratch_databases(name):
            root(f"DROP DATABASE IF EXISTS `{scratch}`")
        root(f"DROP DATABASE IF EXISTS `{name}`")
        root(f"DROP USER IF EXISTS '{name}'@'%'")


def scratch_databases(name):
    return root("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE "
                f"'{name}\\\\_deploytasks\\\\_%'")


@contextmanager
def deployed_on_mariadb(server):
    """The module's server with the example set up and deployed onto a MariaDB database of its own (`server.my`:
    its name and password)."""
    with own_database() as (name, password):
        def edit(work):
            with open(work / "requirements.txt", "a") as handle:
                handle.write("PyMySQL\n")
            (work / "mysite" / "__init__.py").write_text(SHIM)
        server.repo.commit("MariaDB through PyMySQL", edit)
        server.production_env.write_text(
            f"DATABASE_URL=mysql://{name}:{password}@127.0.0.1:3306/{name}\nSECRET_KEY={server.secret_key}\n"
            "DEBUG=false\n")
        server.fab("setup").ok()
        server.fab("deploy").ok()
        server.my = {"name": name, "password": password}
        server.applied_migrations = lambda: [tuple(row) for row in root(
            "SELECT app, name FROM django_migrations ORDER BY id", name)]
        yield server


def rows(s, sql):
    """The rows of `sql` in the module's database (lists of strings)."""
    return root(sql, s.my["name"])
