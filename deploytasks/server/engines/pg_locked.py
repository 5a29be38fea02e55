"""A PostgreSQL restore that loses no committed row: ONE psql session locks every table of the live database
against writes (EXCLUSIVE MODE: writers wait, readers go on), exports its snapshot, the safety pg_dump reads
exactly that snapshot (--snapshot), and the restore then runs in the same session and transaction, its COMMIT
releasing the locks. A row committed before the lock is in the safety dump; none commits until the restore
has committed or rolled back."""
import subprocess
import tempfile
import threading

from ..errors import ServerError
from ..subprocess_entry import end_fed
from .dumptools import error_line

# Every relation PG_DROP_ALL would drop that holds rows (tables, partitioned tables), not an extension's.
LOCK_ALL = r"""
DO $deploytasks$
DECLARE item record;
BEGIN
  FOR item IN
    SELECT format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
    ORDER BY 1
  LOOP
    EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', item.name);
  END LOOP;
END
$deploytasks$;
"""
SNAPSHOT_MARK = "deploytasks-snapshot="


class LockedSession:
    """A psql session holding the write locks (start() returns the exported snapshot's id); its stdin is what
    PostgreSQL.restore writes the restore script into. lock_timeout bounds the wait for running writers."""

    def __init__(self, psql_argv, env, lock_timeout="60s"):
        self.argv, self.env, self.lock_timeout = psql_argv, env, lock_timeout
        self.errors = tempfile.TemporaryFile()
        self.process = None
        self.txids = None  # txid_current_snapshot() once the locks are held (early_safety.unchanged compares it)

    def start(self):
        self.process = subprocess.Popen(self.argv + ["--tuples-only", "--no-align"], env=self.env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors)
        # READ COMMITTED: the snapshot exported is taken when the export runs, after every lock is held (a
        # REPEATABLE READ transaction would take it at its first statement, the one that waits for the locks).
        script = ("SET lock_timeout = '%s';\nBEGIN ISOLATION LEVEL READ COMMITTED;\n%s\n"
                  "SELECT '%s' || pg_catalog.pg_export_snapshot() || ' ' || pg_catalog.txid_current_snapshot();\n") % (
                      self.lock_timeout, LOCK_ALL, SNAPSHOT_MARK)
        try:
            self.process.stdin.write(script.encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.process.stdout.readline().decode("utf-8", "replace").strip()
        if not line.startswith(SNAPSHOT_MARK):
            self.close()
            raise ServerError("could not hold the live database's tables against writes before the safety backup: %s; "
                              "nothing was changed" % self.error_text())
        # the restore script's few result rows must never fill the pipe
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        snapshot, self.txids = line[len(SNAPSHOT_MARK):].split(" ", 1)
        return snapshot

    def error_text(self):
        self.errors.seek(0)
        return error_line(self.errors.read().decode("utf-8", "replace"), "psql")

    def close(self):
        """End the session; a transaction not committed yet is rolled back (the locks go with it)."""
        end_fed(self.process)
        self.errors.close()
