"""The django_migrations rows a dump holds, read from the database rather than from the dump: one psql session
exports the snapshot pg_dump then reads (`--snapshot`), or imports the one a restore's locked session exported,
and selects the rows in that very snapshot. The dump's read-back then needs no copy of pg_restore's output (the
whole script piped through this process cost about a CPU-second for 270 MiB of data): pg_restore writes to
/dev/null."""
import subprocess
import tempfile
import threading

from ..subprocess_entry import end_fed

SNAPSHOT_MARK = "deploytasks-snapshot="
ROWS_MARK = "deploytasks-migrations"
END_MARK = "deploytasks-end"
# COPY's text format: what parse_migrations_copy reads from pg_restore's script too. \gset / \if: psql 10+.
ROWS = """SELECT pg_catalog.to_regclass('django_migrations') IS NOT NULL AS deploytasks_has_rows \\gset
SELECT '%s';
\\if :deploytasks_has_rows
COPY (SELECT id, app, name FROM django_migrations ORDER BY id) TO STDOUT;
\\endif
SELECT '%s';
""" % (ROWS_MARK, END_MARK)
HEADER = "COPY django_migrations (id, app, name) FROM stdin;\n"


class SnapshotSession:
    """start() -> (snapshot id, django_migrations rows as COPY text or None when the table is absent), or None
    when psql could not (the caller then reads the rows from the dump itself). The session stays open, its
    snapshot exported, until close() (after pg_dump has imported it)."""

    def __init__(self, psql_argv, env, imported=None):
        self.argv, self.env, self.imported = psql_argv, env, imported
        self.process = None
        self.errors = tempfile.TemporaryFile()

    def start(self):
        try:
            self.process = subprocess.Popen(self.argv + ["--tuples-only", "--no-align"], env=self.env,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors)
        except OSError:
            return None
        if self.imported:
            script = ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSET TRANSACTION SNAPSHOT '%s';\n"
                      "SELECT '%s%s';\n" % (self.imported.replace("'", ""), SNAPSHOT_MARK, self.imported.replace("'", "")))
        else:
            script = ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n"
                      "SELECT '%s' || pg_catalog.pg_export_snapshot();\n" % SNAPSHOT_MARK)
        timer = threading.Timer(60, self.process.kill)  # a database that never answers must not hang the backup
        timer.start()
        try:
            self.process.stdin.write((script + ROWS).encode())
            self.process.stdin.flush()
            snapshot, rows, lines = None, None, []
            for raw in iter(self.process.stdout.readline, b""):
                line = raw.decode("utf-8", "replace")
                if snapshot is None:
                    if line.startswith(SNAPSHOT_MARK):
                        snapshot = line.strip()[len(SNAPSHOT_MARK):]
                elif rows is None:
                    if line.strip() == ROWS_MARK:
                        rows = []
                elif line.strip() == END_MARK:
                    return snapshot, (HEADER + "".join(lines) + "\\.\n") if lines else None
                else:
                    lines.append(line)
        except OSError:
            pass
        finally:
            timer.cancel()
        self.close()
        return None

    def close(self):
        """End the session (its read-only transaction with it)."""
        end_fed(self.process)
        if self.process is not None:
            self.process.stdout.close()
        self.errors.close()
