"""PostgreSQL: pg_dump --format=custom compressed by zstd (pg_pipeline), verified by reading the whole archive
back with pg_restore as it is written; earlier versions' plain .dump files (pg_dump's zlib) read too. Restored
in ONE transaction (psql) that first drops what the live database has, then replays pg_restore's script,
so a failure anywhere leaves the live database exactly as it was."""
import contextlib
import os
import re
import subprocess
import tempfile

from ..errors import ServerError
from ..manifests import read_back_here
from . import scratch
from .dumptools import DumpEngine, error_line, find_tool, secret_file
from ..files import fingerprint
from .pg_wrapper import SYSCONFDIR, direct_binary
from .pg_stream import CUSTOM_MAGIC, ZSTD_MAGIC, ArchiveSource, MigrationsScanner, dump_streamed, find_zstd
from .toolenv import PG, tool_env

# libpq settings Django passes through OPTIONS, and the environment variables the client tools read them from.
PG_OPTION_ENV = {
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL", "service": "PGSERVICE", "passfile": "PGPASSFILE", "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "options": "PGOPTIONS", "gssencmode": "PGGSSENCMODE",
}

# Everything the restored archive does not recreate must go too (tables of migrations newer than the backup,
# say), or the restored data would sit beside them. Relations only, not those an extension owns, nor
# sequences owned by a column (they go with their table).
PG_DROP_ALL = r"""
DO $deploytasks$
DECLARE item record;
BEGIN
  FOR item IN
    SELECT format('%I.%I', n.nspname, c.relname) AS name,
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                          WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
    ORDER BY c.relkind DESC
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', item.kind, item.name);
  END LOOP;
END
$deploytasks$;
"""


def pgpass_escape(value):
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


class PostgreSQL(DumpEngine):
    vendor = "postgresql"
    suffix = ".dump.zst"  # ".dump" (custom format, zlib inside) when the server has no zstd
    verified = "pg_restore (whole archive read back)"
    verified_when_made = "pg_restore (whole archive read back when this machine made it; the same sha256)"
    trusts_read_back = True

    def __init__(self, database, connection=None):
        super().__init__(database, connection)
        self.settings = connection.settings_dict if connection is not None else {}
        found = [find_tool("postgresql", name) for name in ("pg_dump", "pg_restore", "psql")]
        # every connecting command gets --host: then the binary Debian's pg_wrapper would pick, without its Perl
        tools = [direct_binary(tool) for tool in found] if self.database["host"] else found
        self.past_wrapper = tools != found
        self.pg_dump, self.pg_restore, self.psql = tools
        self.read_migrations = {}  # {file fingerprint: migrations} of archives verify() read whole
        self.described = {}  # {file fingerprint: migrations} from a manifest check_backup compares the file with
        self.read_back_when_made = set()  # fingerprints of files whose manifest's sha256 was read back whole here

    @staticmethod
    def looks_like(head):
        return head.startswith(CUSTOM_MAGIC) or head.startswith(ZSTD_MAGIC)

    def target(self):
        """Connection argv: each value its own word (no shell sees them); never the password."""
        argv = ["--no-password"]  # never prompt: no TTY here, and the password comes from PGPASSFILE
        database = self.database
        if database["host"]:
            argv.append("--host=" + database["host"])
        if database["port"]:
            argv.append("--port=" + database["port"])
        if database["user"]:
            argv.append("--username=" + database["user"])
        if database["name"]:
            argv.append("--dbname=" + database["name"])
        return argv

    @contextlib.contextmanager
    def environment(self):
        """The client tools' environment: Django's connection OPTIONS as libpq variables and, when settings
        have a PASSWORD, a PGPASSFILE made for this run (dumptools.secret_file: no file on disk where it can)."""
        env = tool_env(PG, PGAPPNAME="deploytasks")
        if self.past_wrapper:  # what the wrapper sets: where libpq finds pg_service.conf
            env.setdefault("PGSYSCONFDIR", SYSCONFDIR)
        for option, variable in PG_OPTION_ENV.items():
            value = (self.settings.get("OPTIONS") or {}).get(option)
            if value not in (None, ""):
                env[variable] = str(value)
        password = self.settings.get("PASSWORD")
        if not password:
            yield env
            return
        env.pop("PGPASSWORD", None)  # it would win over the file
        with secret_file("deploytasks-pgpass-", "*:*:*:*:%s\n" % pgpass_escape(password)) as passfile:
            env["PGPASSFILE"] = passfile
            yield env

    def dump_tool(self):
        return self.pg_dump, PG

    def backup_suffix(self):
        return self.suffix if find_zstd() else ".dump"

    def dump_into(self, fd, path, stream, fast, load_into=None, snapshot=None):
        """pg_stream.dump_streamed, reading `snapshot` (exported by the caller) when given. A dump that could not
        be restored into `load_into` as it was read back leaves that to copy_for_rehearsal (the empty database is
        dropped here); a restore into it that failed is told apart from a damaged archive by reading the file."""
        with self.environment() as env:
            made = dump_streamed(self, env, fd, stream, snapshot=snapshot, load_into=load_into)
        made["migrations"] = parse_migrations_copy(made.pop("migrations_copy"))
        made["load_problem"] = None
        if load_into and not made["loaded_into"]:
            scratch.drop(self, load_into)
        elif made["loaded_into"]:
            made["load_problem"] = made["problem"]
            if made["load_problem"]:
                made["problem"] = self.read_archive([self.pg_restore, "--file=/dev/null"], path)
        return made

    def read_archive(self, argv, path, stdout=None):
        """Run pg_restore `argv` on the backup at `path` (zstd-compressed or plain); None or its error line.
        stdout: a file, or a function called with each block pg_restore writes."""
        scan = stdout if callable(stdout) else None
        with ArchiveSource(path) as source:
            with tempfile.TemporaryFile() as errors:
                reader = subprocess.Popen(argv + source.argv, env=tool_env(PG), stdin=source.stdin, stderr=errors,
                                          stdout=subprocess.PIPE if scan else stdout or subprocess.DEVNULL)
                source.started()
                if scan:
                    for block in iter(lambda: reader.stdout.read(1 << 20), b""):
                        scan(block)
                    reader.stdout.close()
                status = reader.wait()
                errors.seek(0)
                text = errors.read().decode("utf-8", "replace")
            corrupt = source.problem()  # zstd's word on a damaged file is clearer than pg_restore's
            return corrupt or (error_line(text, "pg_restore") if status != 0 else None)

    def check_backup(self, path, manifest, params, fingerprint):
        """A file with a manifest is read whole by pg_restore without its script passing through this process:
        its migrations are the manifest's, which check_backup fails unless the file matches (sha256). When this
        machine read an archive with that sha256 back whole as it made it (into the backups directory the restore
        keeps its safety backup in), those are the very bytes: they are not read whole a second time."""
        if manifest and isinstance(manifest.get("migrations"), dict):
            self.described[tuple(fingerprint)] = manifest["migrations"]
            if read_back_here(params.get("safety_dest"), manifest.get("sha256")):
                self.read_back_when_made.add(tuple(fingerprint))
        return super().check_backup(path, manifest, params, fingerprint)

    def verify(self, path):
        """None when pg_restore reads every entry of the archive (TOC and all data), else its error. The same
        read keeps the django_migrations rows it passes, for migrations_in (no second read of the file), unless
        a manifest describing the file has them (then pg_restore writes to /dev/null)."""
        key = tuple(fingerprint(path))
        if key in self.read_back_when_made:  # check_backup fails unless the file's sha256 is the manifest's
            self.verified = self.verified_when_made
            self.read_migrations[key] = self.described[key]
            return None
        if key in self.described:
            problem = self.read_archive([self.pg_restore, "--file=/dev/null"], path)
            if not problem:
                self.read_migrations[key] = self.described[key]
            return problem
        scanner = MigrationsScanner()
        problem = self.read_archive([self.pg_restore, "--file=-"], path, stdout=scanner.feed)
        if not problem:
            self.read_migrations[key] = parse_migrations_copy(scanner.text())
        return problem

    def migrations_in(self, path):
        """{app: [name, ...]} from the archive's django_migrations data, in the order they were applied."""
        known = self.read_migrations.get(tuple(fingerprint(path)))
        if known is not None:
            return known
        with tempfile.TemporaryFile() as script:
            problem = self.read_archive([self.pg_restore, "--data-only", "--table=django_migrations", "--file=-"],
                                        path, stdout=script)
            if problem:
                raise ServerError("cannot read django_migrations from %s: %s" % (path, problem))
            script.seek(0)
            return parse_migrations_copy(script.read().decode("utf-8", "replace"))

    def psql_argv(self):
        return [self.psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1"] + self.target()

    def prepare_restore(self, params):
        """Start the safety dump while the upload is still being checked (restore.main calls this before
        check_backup): one psql session takes the write locks and exports its snapshot, and the safety backup of
        that snapshot is made in a thread. restore_backup then replays in that session; abandon_restore (the
        check failed) rolls the session back and removes the safety backup, leaving everything as it was."""
        import threading

        from .. import early_safety
        from .pg_locked import LockedSession

        self.close()
        prepared = self.prepared = {"session": None, "safety": None, "error": None, "lock": params.get("lock")}

        def take():
            try:
                with self.environment() as env:
                    prepared["session"] = LockedSession(self.psql_argv(), env)
                    snapshot = prepared["session"].start()
                prepared["safety"] = early_safety.adopt(params, prepared["session"].txids)
                if prepared["safety"] is not None:
                    return
                prepared["safety"] = self.dump_backup(
                    params["safety_dest"], dict(params, label="pre-restore"),
                    {"database_alias": self.database["alias"], "reason": "safety backup before restore",
                     "consistent_with": "the restore (taken under the same write locks)"}, snapshot=snapshot)
            except BaseException as exc:  # noqa: BLE001 - handed to restore_backup / abandon_restore
                prepared["error"] = exc
                if prepared["lock"]:
                    early_safety.discard(prepared["lock"])
        prepared["thread"] = threading.Thread(target=take, daemon=True)
        prepared["thread"].start()

    def prepared_safety(self):
        """The safety backup prepare_restore started, once it is made (its error raised, the locks released)."""
        prepared = self.prepared
        prepared["thread"].join()
        if prepared["error"] is not None:
            if prepared["session"] is not None:
                prepared["session"].close()
            raise prepared["error"]
        return prepared["session"], prepared["safety"]

    def abandon_restore(self):
        prepared = getattr(self, "prepared", None)
        if prepared is None:
            return
        prepared["thread"].join()
        if prepared["session"] is not None:
            prepared["session"].close()
        if prepared["lock"]:
            from .. import early_safety

            early_safety.discard(prepared["lock"])
        safety = prepared["safety"]
        if safety:
            for leftover in (safety["path"], safety["path"] + ".json"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        self.prepared = None

    def restore_backup(self, path, params, deferred):
        """The safety dump and the restore under one session's write locks (pg_locked): no committed row lost.
        The safety dump is the one prepare_restore started, or one taken now."""
        if getattr(self, "prepared", None) is None:
            self.prepare_restore(params)
        session, safety = self.prepared_safety()
        self.prepared = None
        try:
            self.restore(path, safety["path"], session=session)
        finally:
            session.close()
        return {"safety_backup": safety["path"]}

    def restore(self, path, safety, session=None):
        """pg_restore's script for the archive (--clean --if-exists --no-owner --no-acl) straight into psql
        (ON_ERROR_STOP; no copy through this process) after a BEGIN and a statement dropping what the archive does
        not recreate; all of it one transaction, whose COMMIT this process adds once pg_restore exited 0 (the
        script has none: no --single-transaction). session: a pg_locked.LockedSession whose open transaction
        the script joins."""
        self.close()
        with self.environment() as env, tempfile.TemporaryFile() as own_errors, \
                tempfile.TemporaryFile() as restore_errors, ArchiveSource(path) as source:
            if session is None:
                psql_errors = own_errors
                psql = subprocess.Popen(self.psql_argv(), env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=psql_errors)
            else:
                psql, psql_errors = session.process, session.errors
            broken = False
            restored_ok = False
            try:
                psql.stdin.write((b"" if session else b"BEGIN;\n") + PG_DROP_ALL.encode() + b"\n")
                psql.stdin.flush()
                reader = subprocess.Popen([self.pg_restore, "--clean", "--if-exists", "--no-owner", "--no-acl",
                                           "--exit-on-error", "--file=-"] + source.argv,
                                          env=tool_env(PG), stdin=source.stdin, stdout=psql.stdin.fileno(),
                                          stderr=restore_errors)  # reads the file only: no password for it
                source.started()
                restored_ok = reader.wait() == 0 and source.problem() is None
                if restored_ok:
                    psql.stdin.write(b"\nCOMMIT;\n")
            except BrokenPipeError:  # psql stopped at an error: the transaction is rolled back
                broken = True
                restored_ok = False
            try:
                psql.stdin.close()
            except BrokenPipeError:
                broken = True
            psql_status = psql.wait()
            psql_errors.seek(0)
            restore_errors.seek(0)
            psql_text = psql_errors.read().decode("utf-8", "replace")
            restore_text = restore_errors.read().decode("utf-8", "replace")
        if psql_status != 0 or broken:
            raise ServerError("restore failed and was rolled back, the database is as it was: %s (safety backup: %s)" % (
                error_line(psql_text, "psql"), safety))
        if not restored_ok:
            raise ServerError("restore failed and was rolled back, the database is as it was: pg_restore: %s (safety backup: %s)" % (
                error_line(restore_text, "pg_restore"), safety))


def copy_unescape(value):
    """A value of COPY's text format (backslash escapes) as the text it stands for."""
    if "\\" not in value:
        return value
    escapes = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "b": "\b", "f": "\f", "v": "\v"}
    return re.sub(r"\\(.)", lambda match: escapes.get(match.group(1), match.group(1)), value)



def parse_migrations_copy(text):
    """{app: [name, ...]} in the order applied, from pg_restore script text holding django_migrations' COPY block
    (None or no block: {})."""
    rows, columns = [], None
    for line in (text or "").splitlines():
        if columns is None:
            match = re.match(r"COPY \S*django_migrations\S* \(([^)]*)\) FROM stdin;", line)
            if match:
                columns = [column.strip().strip('"') for column in match.group(1).split(",")]
            continue
        if line == "\\.":
            break
        values = dict(zip(columns, line.split("\t")))
        try:
            order = int(values.get("id", len(rows)))
        except ValueError:
            order = len(rows)
        rows.append((order, copy_unescape(values.get("app", "")), copy_unescape(values.get("name", ""))))
    state = {}
    for _, app, name in sorted(rows):
        state.setdefault(app, []).append(name)
    return state
