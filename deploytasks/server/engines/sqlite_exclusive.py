"""An SQLite restore over a live database that loses no committed row: the safety copy and the replacement
happen under ONE exclusive lock on the live database, so no write can commit between them (writers wait, then
see the restored content, or fail with "file is not a database" if they had opened the old file).

Two ways, the first that works: rename the staged file over the live one, the live file kept as the safety
backup while the lock is held (the only connection, in rollback-journal mode): the replaced file itself under a
second name when no other process has it open after the rename, else a copy; or, when other
connections keep the database open, one write transaction on it that copies it into the safety backup
(read by a second connection while the first holds the write lock) and then replaces every table with the
restored file's."""
import os
import sqlite3
import time

from ..errors import ServerError
from ..files import fsync_path
from ..manifests import backup_name, publish_backup
from ..procscan import inode_open_elsewhere
from .sqlite import Snapshot, _copy_range, copy_snapshot

RENAMED = "renamed into place"
REPLACED = "replaced in one write transaction"


class SafetyCopy:
    """The safety backup's file, written while the lock is held and described (sha256, migrations) after it is
    released: the stall writers see is the copy alone."""

    def __init__(self, live, dest_dir, params, extra):
        os.makedirs(dest_dir, mode=0o700, exist_ok=True)
        self.live, self.params, self.extra = live, params, extra
        self.name = backup_name(dest_dir, os.path.splitext(live)[0], "pre-restore", ".sqlite3")
        self.final = os.path.join(dest_dir, self.name)
        self.partial = self.final + ".partial"
        self.seconds = None
        self.linked = False  # the replaced file itself, renamed aside, rather than a copy

    def publish(self, method):
        snap = Snapshot.of_file(self.partial)
        try:
            copied = copy_snapshot(snap, check=False)
            manifest = {
                "file": self.name, "engine": "sqlite", "database": self.live,
                "host": self.params.get("host") or os.uname().nodename,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "size": snap.size, "sha256": copied["sha256"], "migrations": snap.migrations(),
                "verified": "sha256 only", "method": method,
                "tool": "deploytasks " + self.params.get("version", "?"), "seconds": self.seconds,
            }
        finally:
            snap.close()
        manifest.update(self.extra)
        publish_backup(self.partial, self.final, manifest)
        return manifest

    def discard(self):
        for path in (self.partial, self.partial + ".copy"):
            if os.path.exists(path):
                os.unlink(path)


def _copy_file(source_fd, target_path):
    target = os.open(target_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _copy_range(source_fd, target, 0, os.fstat(source_fd).st_size)
        os.fsync(target)
    finally:
        os.close(target)


def rename_under_lock(staged, live, safety):
    """Copy the live file into safety.partial and rename `staged` over it, both under one exclusive lock;
    False (nothing changed) when another connection has the database open."""
    old = os.open(live, os.O_RDWR)  # opened before SQLite's connection and closed after it (POSIX locks)
    connection = None
    try:
        connection = sqlite3.connect(live, timeout=1, isolation_level=None)
        left_wal = False
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                # leaving WAL mode needs the only connection (and checkpoints everything into the file)
                connection.execute("PRAGMA journal_mode=DELETE")
                left_wal = True
            connection.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError:
            if left_wal:
                _back_to_wal(connection)
            return False
        started = time.monotonic()
        # rollback mode, exclusive lock, no journal: the file IS the database
        linked = safety is not None and _link_safety(old, live, safety.partial)
        if safety is not None and not linked:
            _copy_file(old, safety.partial)
        os.replace(staged, live)
        fsync_path(os.path.dirname(os.path.abspath(live)), directory=True)
        if linked and inode_open_elsewhere(*_identity(old)) is not False:
            # a connection may write into it once the lock is freed: a copy replaces the second name (renamed
            # over it, so the replaced content always has a name in backups/)
            _copy_file(old, safety.partial + ".copy")
            os.replace(safety.partial + ".copy", safety.partial)
            linked = False
        if not linked:
            # A connection that opened the old file and waits for the lock gets "file is not a database"
            # rather than committing into a file nobody reads again.
            os.pwrite(old, b"\0" * 100, 0)
        if safety is not None:
            safety.seconds = round(time.monotonic() - started, 3)
            safety.linked = linked
        return True
    finally:
        if connection is not None:
            connection.close()
        os.close(old)


def _identity(fd):
    found = os.fstat(fd)
    return found.st_dev, found.st_ino


def _link_safety(old, live, target):
    """The live file itself as the safety backup (a second name for it, in no time): once the staged file is
    renamed over the live path, nothing else reaches the old file unless a connection already had it open,
    which the caller checks after the rename. False when the backups are on another file system."""
    os.fsync(old)
    try:
        os.link(live, target)
    except OSError:
        return False
    if _identity(old)[1] != os.stat(target).st_ino:
        os.unlink(target)
        return False
    fsync_path(os.path.dirname(os.path.abspath(target)), directory=True)
    return True


def _back_to_wal(connection, attempts=100):
    """Return a database to WAL mode; that needs a moment when no other connection reads it."""
    for _ in range(attempts):
        try:
            if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)
    raise ServerError("the live database was left in rollback-journal mode (others kept it busy): run PRAGMA journal_mode=WAL")


def _quoted(name):
    return '"%s"' % name.replace('"', '""')


def replace_in_transaction(source, live, safety, timeout=60):
    """In one write transaction on the live database (BEGIN IMMEDIATE: other writers wait, readers go on): its
    committed content into safety.partial (the backup API, from a second connection that only reads), then
    every table, index, view and trigger replaced by `source`'s. All or nothing."""
    connection = sqlite3.connect(live, timeout=timeout, isolation_level=None)
    try:
        connection.execute("ATTACH DATABASE ? AS restored", (source,))
        connection.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        try:
            if safety is not None:
                _read_copy(live, safety.partial, timeout)
            _replace_objects(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        if safety is not None:
            safety.seconds = round(time.monotonic() - started, 3)
        connection.execute("DETACH DATABASE restored")
    finally:
        connection.close()


def _read_copy(live, target_path, timeout):
    """The committed content of the live database into a new file (the backup API, as a reader; a connection
    holding the write lock cannot be a backup's source)."""
    reader = sqlite3.connect(live, timeout=timeout)
    try:
        target = sqlite3.connect(target_path)
        try:
            reader.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        reader.close()
    fsync_path(target_path)


def _replace_objects(connection):
    old = connection.execute("SELECT type, name FROM main.sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                             "AND type IN ('trigger', 'view', 'table')").fetchall()
    order = {"trigger": 0, "view": 1, "table": 2}
    for kind, name in sorted(old, key=lambda item: order[item[0]]):
        connection.execute("DROP %s IF EXISTS main.%s" % (kind.upper(), _quoted(name)))
    new = connection.execute("SELECT type, name, sql FROM restored.sqlite_master WHERE sql IS NOT NULL "
                             "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").fetchall()
    if any(sql.upper().startswith("CREATE VIRTUAL") for _, _, sql in new):
        raise ServerError("the backup has virtual tables, which a restore under other connections cannot copy: "
                          "stop the app server and restore again")
    tables = [(name, sql) for kind, name, sql in new if kind == "table"]
    for name, sql in tables:
        connection.execute(sql)
        connection.execute("INSERT INTO main.%s SELECT * FROM restored.%s" % (_quoted(name), _quoted(name)))
    if connection.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        connection.execute("DELETE FROM main.sqlite_sequence")
        if connection.execute("SELECT 1 FROM restored.sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
            connection.execute("INSERT INTO main.sqlite_sequence SELECT * FROM restored.sqlite_sequence")
    for kind in ("index", "view", "trigger"):
        for found, _, sql in new:
            if found == kind:
                connection.execute(sql)
    version = connection.execute("PRAGMA restored.user_version").fetchone()[0]
    connection.execute("PRAGMA main.user_version = %d" % int(version))


def swap_exactly(staged, source, live, safety, attempts=20):
    """The staged file renamed in when the database is free for a moment, else the transaction; returns how.
    safety: a SafetyCopy to fill under the same lock, or None."""
    if staged is not None:
        for _ in range(attempts):  # a request may hold the database for a moment
            if rename_under_lock(staged, live, safety):
                return RENAMED
            time.sleep(0.05)
    replace_in_transaction(staged or source, live, safety)
    return REPLACED
