"""MySQL/MariaDB: mysqldump --single-transaction (a consistent InnoDB snapshot) compressed by zstd (gzip without
it), read back whole as it is written (mysql_stream: the compressed stream intact, mysqldump's header and its "Dump
completed" line). MySQL cannot roll DDL back, so a restore that fails loads the safety backup back the same way and
says so."""
import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile

from ..errors import ServerError
from . import scratch
from .dumptools import DumpEngine, error_line, find_tool, inherited_secret_file, private_tempfile, secret_file
from .mysql_stream import DUMP_STARTS, dump_streamed, read_file, scan_file
from .pg_stream import ZSTD_MAGIC, find_zstd
from .toolenv import MYSQL, tool_env


def mysql_option_value(value):
    """A value for a MySQL option file, double-quoted with the escapes the client library reads."""
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def mysql_name(name):
    return "`%s`" % str(name).replace("`", "``")


def decompressing(path):
    """argv writing a dump file's SQL to stdout (`zstd -dc`, `gzip -dc`), or None when the tool is missing."""
    with open(path, "rb") as handle:
        zstd = handle.read(4) == ZSTD_MAGIC
    tool = find_zstd() if zstd else shutil.which("gzip")
    return [tool, "-dc"] + (["-q"] if zstd else []) + ["--", path] if tool else None


class MySQL(DumpEngine):
    vendor = "mysql"
    lock_dir = None  # a restore's lock: its guard waits for a load still running (detached_load)
    suffix = ".sql.zst"  # ".sql.gz" when the server has no zstd
    verified = "read back whole (zstd or gzip intact), mysqldump header and completion line"

    def __init__(self, database, connection=None):
        super().__init__(database, connection)
        self.settings = connection.settings_dict if connection is not None else {}
        self.mysqldump = find_tool("mysql", "mysqldump", "mariadb-dump")
        self.mysql = find_tool("mysql", "mysql", "mariadb")
        self.scanned = {}

    @staticmethod
    def looks_like(head):
        """gzip (earlier versions, or no zstd here), zstd, or the text a compressed dump starts with."""
        return head.startswith((b"\x1f\x8b", ZSTD_MAGIC) + DUMP_STARTS + (b"/*M!999999",))

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

    def options_text(self):
        """What --defaults-extra-file holds: the password, and an include of the settings' read_default_file."""
        lines = []
        extra = (self.settings.get("OPTIONS") or {}).get("read_default_file")
        if extra:
            lines.append("!include %s" % os.path.expanduser(extra))
        password = self.settings.get("PASSWORD")
        lines.append("[client]")
        if password:
            lines.append("password=%s" % mysql_option_value(password))
        return "\n".join(lines) + "\n"

    @contextlib.contextmanager
    def options_file(self):
        """--defaults-extra-file=F (it must come first): options_text in a file for this run (dumptools.secret_file:
        no file on disk where it can)."""
        with secret_file("deploytasks-my-", self.options_text()) as path:
            yield ["--defaults-extra-file=" + path]

    @contextlib.contextmanager
    def inherited_options_file(self):
        """(options, fds): options_file for a client started by a process tree that may outlive this process."""
        with inherited_secret_file("deploytasks-my-", self.options_text()) as (path, fds):
            yield ["--defaults-extra-file=" + path], fds

    def backup_suffix(self):
        return self.suffix if find_zstd() else ".sql.gz"

    def dump_tool(self):
        return self.mysqldump, MYSQL

    def dump_into(self, fd, path, stream, fast, load_into=None):
        """mysql_stream.dump_streamed; with load_into, the dump read back is replayed into that scratch database
        as it comes (scratch.MysqlReplay)."""
        name = self.database["name"]
        with self.options_file() as options, tempfile.TemporaryFile() as load_errors:
            argv = [self.mysqldump] + options + ["--single-transaction", "--quick", "--no-tablespaces", "--hex-blob",
                                                 "--triggers"] + self.target() + ["--", name]
            replay = scratch.MysqlReplay(self, options, load_into, load_errors) if load_into else None
            try:
                made = dump_streamed(name, argv, tool_env(MYSQL), fd, stream, fast=fast, replay=replay)
            except BaseException:
                if replay:
                    replay.kill()
                raise
            made["load_problem"] = replay.finish() if replay else None
        made["loaded_into"] = load_into
        return made

    def scan(self, path):
        """Read the dump whole: (problem or None, {app: [migration names]} from its django_migrations rows)."""
        if path not in self.scanned:
            self.scanned[path] = scan_file(path)
        return self.scanned[path]

    def verify(self, path):
        return self.scan(path)[0]

    def migrations_in(self, path):
        return self.scan(path)[1]

    def load(self, path):
        """Drop every table and view of the live database, then replay the dump, in one client session that
        stops at the first error. None on success, else the error line. The client reads the dump from a
        pipeline of its own session (detached_load), not from this process: killed here, the load still runs to
        its end instead of the client taking the end of its input for the dump's and keeping half of it."""
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
        decompress = decompressing(path)
        if decompress is not None and shutil.which("bash"):
            return self.detached_load(decompress, "\n".join(preamble) + "\n")
        with self.options_file() as options, tempfile.TemporaryFile() as errors:
            client = subprocess.Popen(self.client_argv(options),
                                      env=tool_env(MYSQL), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                client.stdin.write(("\n".join(preamble) + "\n").encode())
                unreadable = read_file(path, client.stdin.write)
                if unreadable:
                    client.kill()
                    client.wait()
                    return "reading %s failed: %s" % (path, unreadable)
                client.stdin.close()
            except BrokenPipeError:  # the client stopped at an error
                pass
            status = client.wait()
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace")
        return None if status == 0 else error_line(text, "mysql")

    def client_argv(self, options):
        return ([self.mysql] + options + ["--batch", "--silent"] + self.target()
                + ["--database=" + self.database["name"]])

    def detached_load(self, decompress, preamble):
        """`{ cat PREAMBLE; zstd -dc FILE; } | mysql …` in a session of its own that removes its preamble when it
        ends; waited for here, and by the restore's lock guard (a worker marker) should this process die first.
        None, or the error line."""
        script = private_tempfile("deploytasks-my-pre-", preamble)
        client = ["env", "-u", "PWD", "-u", "SHLVL", "-u", "_"]  # the tool's environment only, none of bash's own
        with self.inherited_options_file() as (options, fds), tempfile.TemporaryFile() as errors:
            command = "set -o pipefail; { cat -- %s && %s; } | %s; status=$?; rm -f -- %s; exit $status" % (
                shlex.quote(script), shlex.join(decompress), shlex.join(client + self.client_argv(options)),
                shlex.quote(script))
            try:
                process = subprocess.Popen([shutil.which("bash"), "-c", command], env=tool_env(MYSQL),
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                           start_new_session=True, pass_fds=fds)
            except OSError:
                os.unlink(script)
                raise
            from ..lock_guard import detached_work

            with detached_work(self.lock_dir, process.pid):
                status = process.wait()
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

