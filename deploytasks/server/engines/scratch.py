"""Scratch databases beside the live one on its server (PostgreSQL, MySQL/MariaDB): made by the live
connection's role, named <db>_deploytasks_<kind>_<UTC stamp> so one a killed run left behind is found and
dropped by the next run of the same kind."""
import subprocess
import tempfile
import time

from ..errors import ServerError
from .base import RehearsalSkipped
from .dumptools import call_tool, error_line
from .toolenv import MYSQL, tool_env

MAX_NAME = 63  # PostgreSQL's identifier limit (MySQL's is 64)
QUOTES = {"postgresql": '"', "mysql": "`"}
LISTING = {
    "postgresql": "SELECT datname FROM pg_database WHERE datname LIKE %s",
    "mysql": "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
}
DENIED = ("permission denied", "access denied", "must be owner", "insufficient privilege")


def prefix(database, kind):
    marker = "_deploytasks_%s_" % kind
    return database["name"][:MAX_NAME - len(marker) - 14] + marker


def new_name(database, kind):
    return prefix(database, kind) + time.strftime("%Y%m%d%H%M%S", time.gmtime())


def quoted(vendor, name):
    quote = QUOTES[vendor]
    return quote + name.replace(quote, quote * 2) + quote


def like_pattern(text):
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


def execute(engine, sql, params=None):
    with engine.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def leftovers(engine, kind):
    """Scratch databases of `kind` for this database that a killed run left behind."""
    rows = execute(engine, LISTING[engine.vendor], [like_pattern(prefix(engine.database, kind))])
    return sorted(row[0] for row in rows)


def drop(engine, name):
    execute(engine, "DROP DATABASE IF EXISTS %s" % quoted(engine.vendor, name))


def create(engine, kind, template=None):
    """A new empty scratch database (or a copy of `template`), after dropping leftovers of the same kind;
    RehearsalSkipped with the reason when the role may not create databases."""
    vendor = engine.vendor
    try:
        for name in leftovers(engine, kind):
            drop(engine, name)
        name = new_name(engine.database, kind)
        sql = "CREATE DATABASE %s" % quoted(vendor, name)
        if template:
            sql += " TEMPLATE %s" % quoted(vendor, template)
        execute(engine, sql)
    except Exception as exc:
        if "DatabaseError" not in [cls.__name__ for cls in type(exc).__mro__]:
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if any(word in text.lower() for word in DENIED):
            user = engine.database["user"]
            grant = ("ALTER ROLE %s CREATEDB" % quoted(vendor, user) if vendor == "postgresql" else
                     "GRANT ALL ON `%s%%`.* TO '%s'@'%%'" % (prefix(engine.database, kind).replace("_", "\\_"), user))
            # `_` matches any character in a GRANT's database name: escaped, the grant covers these copies alone
            raise RehearsalSkipped("the database user %r cannot create a scratch database (%s): grant it that "
                                   "(%s)" % (user, text, grant)) from None
        raise
    return name


def load_postgresql(engine, path, name):
    """pg_restore the custom-format dump (zstd-compressed or plain) into the scratch database `name`, in one
    transaction."""
    from .pg_stream import ArchiveSource, restore_argv

    argv = [engine.pg_restore] + restore_argv(engine, name)
    with engine.environment() as env, ArchiveSource(path) as source:
        problem = call_tool(argv + source.argv, env, stdin=source.stdin)
        source.started()
        problem = problem or source.problem()
    if problem:
        raise ServerError("restoring the dump into the scratch database %s failed: %s" % (name, problem))


class MysqlReplay:
    """A `mysql` client replaying what it is fed into the scratch database `name` (its errors into `errors`)."""

    def __init__(self, engine, options, name, errors):
        self.errors, self.stopped = errors, False
        self.client = subprocess.Popen([engine.mysql] + options + ["--batch", "--silent"] + engine.target()
                                       + ["--database=" + name], env=tool_env(MYSQL), stdin=subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, stderr=errors)

    def feed(self, block):
        if not self.stopped:
            try:
                self.client.stdin.write(block)
            except BrokenPipeError:  # it stopped at an error: finish() says which
                self.stopped = True

    def finish(self):
        """None when the client replayed everything and exited 0, else its error line."""
        try:
            self.client.stdin.close()
        except BrokenPipeError:
            pass
        if self.client.wait() == 0:
            return None
        self.errors.seek(0)
        return error_line(self.errors.read().decode("utf-8", "replace"), "mysql")

    def kill(self):
        if self.client.poll() is None:
            self.client.kill()
            self.client.wait()


def load_mysql(engine, path, name):
    """Replay the mysqldump file (zstd or gzip) into the scratch database `name`."""
    from .mysql_stream import read_file

    with engine.options_file() as options, tempfile.TemporaryFile() as errors:
        replay = MysqlReplay(engine, options, name, errors)
        try:
            unreadable = read_file(path, replay.feed)
        except BaseException:
            replay.kill()
            raise
        problem = replay.finish() if not unreadable else "reading %s failed: %s" % (path, unreadable)
        if unreadable:
            replay.kill()
    if problem:
        raise ServerError("restoring the dump into the scratch database %s failed: %s" % (name, problem))


LOADERS = {"postgresql": load_postgresql, "mysql": load_mysql}


def copy_for_rehearsal(engine, backup_path):
    """A scratch database holding the dump's content: Django settings pointing a connection at it."""
    name = create(engine, "rehearsal")
    try:
        LOADERS[engine.vendor](engine, backup_path, name)
    except BaseException:
        drop(engine, name)
        raise
    return {"NAME": name}
