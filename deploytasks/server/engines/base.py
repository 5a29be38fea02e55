"""The interface every database engine implements (one module per engine; see ENGINES in __init__)."""


class RehearsalSkipped(Exception):
    """copy_for_rehearsal: this engine cannot rehearse migrations on a copy (yet); the reason is the message."""


def strictly_refused(reason):
    """The error of a deploy whose rehearsal cannot run under strict_migrations (`reason`: RehearsalSkipped's)."""
    from ..errors import ServerError

    return ServerError("the rehearsal on a copy could not run (%s) and strict_migrations refuses to migrate without "
                       "one; nothing was applied" % reason)


class Engine:
    """One Django database of one vendor. `database` is django_info.database_info(alias); `connection` the
    Django connection (closed before the engine's tools touch the database), or None outside Django.

    Backups are files named <database>-<stamp>[-label]<suffix> with a JSON manifest beside them; a restore
    takes a safety backup first and never leaves the live database half-restored."""

    vendor = ""
    suffix = ""  # of the backup files
    verified = None  # how a restore check verifies a file, reported as "verified" (None: not reported)

    def __init__(self, database, connection=None):
        self.database = database
        self.connection = connection

    def close(self):
        if self.connection is not None:
            self.connection.close()

    @staticmethod
    def looks_like(head):
        """Whether the first 16 bytes of a file are this engine's backup format."""
        raise NotImplementedError

    def has_data(self):
        """Whether there is a database to back up (an SQLite file may not exist yet)."""
        return True

    def backup(self, dest_dir, params, extra, stream=None, check=True):
        """Copy, verify and checksum the database into dest_dir, write its manifest (params: label, host,
        version; extra: more manifest fields); returns the manifest with its "path". With `stream` (a binary
        file) an engine that can also writes the copy there, framed by a STREAM_MARKER line; check=False may
        skip the slow verification of a copy that is kept whatever it holds (a safety copy)."""
        raise NotImplementedError

    copied_while_dumping = False  # copy_for_rehearsal took a copy made during backup_for_rehearsal

    def backup_for_rehearsal(self, dest_dir, params, extra):
        """backup() before migrations are rehearsed on a copy of it: an engine that can makes the copy while it
        backs up, for copy_for_rehearsal to take."""
        return self.backup(dest_dir, params, extra)

    def verify(self, path):
        """None when the backup file reads back whole and sound, else the problem."""
        raise NotImplementedError

    def migrations_in(self, path):
        """{app: [migration names]} recorded in the backup's django_migrations, in the order applied."""
        raise NotImplementedError

    def check_kind(self, path, manifest):
        """Raise ServerError unless the file is a backup of this engine."""
        raise NotImplementedError

    def check_backup(self, path, manifest, params, fingerprint):
        """Verify a file against its manifest (size, sha256 — or params["received"]'s when its fingerprint
        matches — and verify()); returns True when a check is deferred to restore_backup."""
        raise NotImplementedError

    def restore(self, path, safety):
        """Give the live database the backup's content, all or nothing (`safety`: the safety backup's path,
        named in errors)."""
        raise NotImplementedError

    def restore_backup(self, path, params, deferred):
        """A safety backup into params["safety_dest"], then restore(); returns the report's fields
        (safety_backup, and method when it matters)."""
        raise NotImplementedError

    def copy_for_rehearsal(self, backup_path):
        """A scratch database holding the backup's content; returns the Django settings that point a
        connection at it (raises RehearsalSkipped when the engine cannot)."""
        raise RehearsalSkipped("rehearsal on a copy is not available for %s databases yet" % self.vendor)

    def discard_rehearsal_copy(self):
        """Drop the copy backup_for_rehearsal made when no rehearsal will take it (a deploy stopped in between)."""

    def drop_copy(self, copy):
        """Remove what copy_for_rehearsal made."""
