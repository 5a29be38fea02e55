"""MySQL/MariaDB: mysqldump --single-transaction (a consistent InnoDB snapshot), gzip-compressed, verified by
reading it back whole (gzip intact, mysqldump's header and its "Dump completed" line). MySQL cannot roll DDL
back, so a restore that fails loads the safety backup back the same way and says so."""
import contextlib
import gzip
import os
import re
import subprocess
import tempfile
import zlib

from ..errors import ServerError
from . import scratch
from .dumptools import DumpEngine, error_line, find_tool, private_tempfile
from .toolenv import MYSQL, tool_env

MYSQL_DUMP_STARTS = (b"-- MySQL dump", b"-- MariaDB dump")


def mysql_option_value(value):
    """A value for a MySQL option file, double-quoted with the escapes the client library reads."""
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def mysql_name(name):
    return "`%s`" % str(name).replace("`", "``")


class MySQL(DumpEngine):
    vendor = "mysql"
    suffix = ".sql.gz"
    verified = "gzip read back whole, mysqldump header and completion line"

    def __init__(self, database, connection=None):
        super().__init__(database, connection)
        self.settings = connection.settings_dict if connection is not None else {}
        self.mysqldump = find_tool("mysql", "mysqldump", "mariadb-dump")
        self.mysql = find_tool("mysql", "mysql", "mariadb")
        self.scanned = {}

    @staticmethod
    def looks_like(head):
        return head.startswith(b"\x1f\x8b")

    def target(self):
        """Connection argv after the options file: each value its own word, never the password."""
        argv = []
        database = self.database
        if database["host"].startswith("/"):
            argv.append("--socket=" + database["host"])
        elif database["host"]:
            argv += ["--host=" + database["host"], "--protocol=TCP"]
        if database["port"]:
            argv.append("--port=" + database["port"])
        if database["user"]:
            argv.append("--user=" + database["user"])
        charset = (self.settings.get("OPTIONS") or {}).get("charset")
        argv.append("--default-character-set=" + (charset or "utf8mb4"))
        return argv

    @contextlib.contextmanager
    def options_file(self):
        """--defaults-extra-file=F (it must come first): a 0600 file made for this run holding the password and
        including the settings' read_default_file; removed afterwards."""
        lines = []
        extra = (self.settings.get("OPTIONS") or {}).get("read_default_file")
        if extra:
            lines.append("!include %s" % os.path.expanduser(extra))
        password = self.settings.get("PASSWORD")
        lines.append("[client]")
        if password:
            lines.append("password=%s" % mysql_option_value(password))
        path = private_tempfile("deploytasks-my-", "\n".join(lines) + "\n")
        try:
            yield ["--defaults-extra-file=" + path]
        finally:
            if os.path.exists(path):
                os.unlink(path)

    def tool_version(self):
        done = subprocess.run([self.mysqldump, "--version"], env=tool_env(MYSQL), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL, universal_newlines=True)
        return done.stdout.strip()

    def dump(self, path, fast=False, load_into=None):
        """fast: gzip level 1 instead of 6 (a somewhat larger file, several times faster); load_into: a scratch
        database the dump is replayed into as it is made (scratch.load_mysql's client, fed the same bytes).
        Returns that replay's error, or None."""
        name = self.database["name"]
        with self.options_file() as options, tempfile.TemporaryFile() as errors, open(path, "wb") as raw, \
                tempfile.TemporaryFile() as load_errors:
            child = subprocess.Popen(
                [self.mysqldump] + options + ["--single-transaction", "--quick", "--no-tablespaces", "--hex-blob",
                                              "--triggers"] + self.target() + ["--", name],
                env=tool_env(MYSQL), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
            replay = scratch.MysqlReplay(self, options, load_into, load_errors) if load_into else None
            try:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1 if fast else 6, mtime=0) as packed:
                    for block in iter(lambda: child.stdout.read(1 << 20), b""):
                        packed.write(block)
                        if replay:
                            replay.feed(block)
                status = child.wait()
            except BaseException:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                if replay:
                    replay.kill()
                raise
            loaded = replay.finish() if replay else None
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace")
        if status != 0:
            raise ServerError("mysqldump of %r failed: %s" % (name, error_line(text, "mysqldump")))
        return loaded

    def scan(self, path):
        """Read the dump whole: (problem or None, {app: [migration names]} from its django_migrations rows)."""
        if path in self.scanned:
            return self.scanned[path]
        rows, head, last, inserting = [], [], b"", False
        pattern = re.compile(rb"\((\d+),'((?:[^'\\]|\\.)*)','((?:[^'\\]|\\.)*)'")
        problem = None
        try:
            with gzip.open(path, "rb") as handle:
                for line in handle:
                    if len(head) < 3:  # MariaDB may put a "sandbox mode" line before its header
                        head.append(line)
                    if line.startswith(b"INSERT INTO `django_migrations` VALUES"):
                        inserting = True  # MySQL: the rows on this line; MariaDB 10.11+: one row a line after it
                    if inserting:
                        rows += [(int(i), mysql_unescape(a), mysql_unescape(n)) for i, a, n in pattern.findall(line)]
                        inserting = not line.rstrip().endswith(b";")
                    if line.strip():
                        last = line
        except (OSError, EOFError, zlib.error) as exc:
            problem = "the gzip stream is damaged (%s)" % (str(exc) or type(exc).__name__)
        if not problem and not any(line.startswith(MYSQL_DUMP_STARTS) for line in head):
            problem = "it does not start like a mysqldump file"
        if not problem and not last.startswith(b"-- Dump completed"):
            problem = "mysqldump's closing 'Dump completed' line is missing: the dump is incomplete"
        state = {}
        for _, app, name in sorted(rows):
            state.setdefault(app, []).append(name)
        self.scanned[path] = (problem, state)
        return self.scanned[path]

    def verify(self, path):
        return self.scan(path)[0]

    def migrations_in(self, path):
        return self.scan(path)[1]

    def load(self, path):
        """Drop every table and view of the live database, then replay the dump, in one client session that
        stops at the first error. None on success, else the error line."""
        connection = self.connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE()")
            existing = cursor.fetchall()
        connection.close()
        preamble = ["SET FOREIGN_KEY_CHECKS=0;"]
        views = [mysql_name(name) for name, kind in existing if kind == "VIEW"]
        tables = [mysql_name(name) for name, kind in existing if kind != "VIEW"]
        if views:
            preamble.append("DROP VIEW IF EXISTS %s;" % ", ".join(views))
        if tables:
            preamble.append("DROP TABLE IF EXISTS %s;" % ", ".join(tables))
        with self.options_file() as options, tempfile.TemporaryFile() as errors:
            client = subprocess.Popen([self.mysql] + options + ["--batch", "--silent"] + self.target()
                                      + ["--database=" + self.database["name"]],
                                      env=tool_env(MYSQL), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                client.stdin.write(("\n".join(preamble) + "\n").encode())
                with gzip.open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        client.stdin.write(block)
                client.stdin.close()
            except BrokenPipeError:  # the client stopped at an error
                pass
            except (OSError, EOFError, zlib.error) as exc:
                client.kill()
                client.wait()
                return "reading %s failed: %s" % (path, exc)
            status = client.wait()
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace")
        return None if status == 0 else error_line(text, "mysql")

    def restore(self, path, safety):
        problem = self.load(path)
        if not problem:
            return
        undo = self.load(safety)
        if undo:
            raise ServerError("restore failed (%s) and loading the safety backup back failed too (%s): restore %s by hand" % (
                problem, undo, safety))
        raise ServerError("restore failed (%s); the safety backup was loaded back, the database is as it was: %s" % (problem, safety))


def mysql_unescape(value):
    value = value.decode("utf-8", "replace")
    if "\\" not in value:
        return value
    escapes = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}
    return re.sub(r"\\(.)", lambda match: escapes.get(match.group(1), match.group(1)), value)

