"""The environment a database client tool runs with: the few variables any program needs and the engine's own
settings (PG*, MYSQL*), never the rest of the project's environment (a DATABASE_URL holds the password)."""
import os

PG = ("PG",)  # libpq's variables
MYSQL = ("MYSQL", "MARIADB")  # the MySQL/MariaDB clients' (MYSQL_HOST, MYSQL_TCP_PORT, …)
BASICS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR")


def tool_env(prefixes, **extra):
    """os.environ cut down to BASICS and the variables starting with one of `prefixes`, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key in BASICS or key.startswith(tuple(prefixes))}
    env.update(extra)
    return env
