"""SQLite: a checkpointed snapshot copied (and streamed) while it is held, verified with integrity_check;
restored by renaming a staged copy over the live file when nobody has it open, else with the backup API."""
import errno
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time

from ..errors import ServerError
from ..files import fsync_path, sha256_of
from ..manifests import backup_name, publish_backup, read_back_here, remember_read_back
from .base import Engine
from .pipes import STREAM_MARKER, widen_pipe, write_all
from .sqlite_stream import CODEC, compressor_for, send_compressed
SQLITE_HEADER = b"SQLite format 3\x00"


def looks_like_sqlite(path):
    with open(path, "rb") as handle:
        return handle.read(16) == SQLITE_HEADER


def open_readonly(path, **options):
    return sqlite3.connect("file:%s?mode=ro&immutable=1" % path.replace("?", "%3f").replace("#", "%23"), uri=True,
                           **options)


def integrity_errors(path, live=False):
    """None when PRAGMA integrity_check says ok, else its first lines."""
    try:
        connection = sqlite3.connect(path, timeout=30) if live else open_readonly(path)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    try:
        return integrity_errors_seen_by(connection)
    finally:
        connection.close()


def integrity_errors_seen_by(connection):
    """integrity_check of what the connection sees (a snapshot, inside a read transaction)."""
    try:
        rows = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows[:3])


def applied_migrations(path):
    """{app: [name, ...]} read from the file's django_migrations table."""
    connection = open_readonly(path)
    try:
        return migrations_seen_by(connection)
    finally:
        connection.close()


def migrations_seen_by(connection):
    """{app: [name, ...]} in the order they were applied, as the connection sees django_migrations."""
    try:
        rows = connection.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return {}
    state = {}
    for app, name in rows:
        state.setdefault(app, []).append(name)
    return state


def online_copy(source_path, target_path):
    """Consistent copy of a live database with the online backup API in one step."""
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
        target.commit()
    finally:
        target.close()
        source.close()


class Snapshot:
    """A read transaction on a database whose view is exactly the first `size` bytes of its file, which stay
    unchanged until close(): in WAL mode once every committed frame is checkpointed (no checkpoint may then
    write into the file while the transaction lasts), in rollback mode by the shared lock itself."""

    def __init__(self, path, reader, fd, size):
        self.path, self.reader, self.fd, self.size = path, reader, fd, size

    @classmethod
    def take(cls, path, attempts=200):
        """The snapshot, or None when old readers keep the WAL from being checkpointed (use online_copy)."""
        # This descriptor opens first and closes last: closing any descriptor of a file drops the
        # process's POSIX locks on it, SQLite's included.
        fd = os.open(path, os.O_RDONLY)
        reader = None
        try:
            reader = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            if reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal" and not _checkpointed_read(path, reader, attempts):
                raise LookupError
            if not reader.in_transaction:
                reader.execute("BEGIN")
                reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
            size = reader.execute("PRAGMA page_count").fetchone()[0] * reader.execute("PRAGMA page_size").fetchone()[0]
            if os.fstat(fd).st_size < size:
                raise LookupError
            return cls(path, reader, fd, size)
        except LookupError:
            _close(reader, fd)
            return None
        except BaseException:
            _close(reader, fd)
            raise

    @classmethod
    def of_file(cls, path):
        """A snapshot of a file nobody writes (a backup copy)."""
        fd = os.open(path, os.O_RDONLY)
        return cls(path, open_readonly(path, check_same_thread=False), fd, os.fstat(fd).st_size)

    def close(self):
        _close(self.reader, self.fd)

    def migrations(self):
        return migrations_seen_by(self.reader)

    def integrity_errors(self):
        return integrity_errors_seen_by(self.reader)

    def first_page(self):
        """The first page with the header marked rollback-journal mode: a copy is one self-contained file."""
        page = bytearray(os.pread(self.fd, min(4096, self.size), 0))
        if len(page) >= 20 and page[18] == 2 and page[19] == 2:
            page[18] = page[19] = 1
        return bytes(page)


def _checkpointed_read(path, reader, attempts):
    """Begin the reader's transaction right after a checkpoint of the whole WAL, with writers held off
    in between (a brief BEGIN IMMEDIATE); False when readers of older states keep frames unwritten."""
    for _ in range(attempts):
        writer = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            busy, log, done = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if not busy and 0 <= log == done:  # busy: another connection is checkpointing right now
                reader.execute("BEGIN")
                reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return True
        finally:
            writer.close()
        time.sleep(0.01)
    return False


def _close(reader, fd):
    if reader is not None:
        reader.close()
    os.close(fd)


def _copy_range(source_fd, target_fd, start, end):
    """Bytes start..end of source into target at the same offsets, inside the kernel when it can."""
    offset = start
    try:
        while offset < end:
            copied = os.copy_file_range(source_fd, target_fd, end - offset, offset, offset)
            if not copied:
                break
            offset += copied
    except OSError:  # another file system on an old kernel, or no copy_file_range: copy through memory
        pass
    while offset < end:
        block = os.pread(source_fd, min(1 << 20, end - offset), offset)
        if not block:
            raise OSError("%s shrank while it was copied" % source_fd)
        os.lseek(target_fd, offset, os.SEEK_SET)
        write_all(target_fd, block)
        offset += len(block)


def _send_range(source_fd, stream_fd, start, end):
    offset = start
    try:
        while offset < end:
            sent = os.sendfile(stream_fd, source_fd, offset, end - offset)
            if not sent:
                break
            offset += sent
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS):
            raise
    while offset < end:
        block = os.pread(source_fd, min(1 << 20, end - offset), offset)
        write_all(stream_fd, block)
        offset += len(block)


def _sha256_range(source_fd, first, start, end):
    digest = hashlib.sha256(first)
    offset = start
    while offset < end:
        block = os.pread(source_fd, min(1 << 20, end - offset), offset)
        if not block:
            raise OSError("short read while hashing")
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def copy_snapshot(snap, target_fd=None, stream_fd=None, check=True, compress=None):
    """Write the snapshot into target_fd and/or stream_fd while hashing it and running integrity_check, side
    by side (each of these releases the GIL); returns {"sha256", "problem"}. compress: the zstd that the
    stream's bytes go through (chunk-framed, see sqlite_stream), or None."""
    first = snap.first_page()
    results = {}
    jobs = [lambda: results.update(sha256=_sha256_range(snap.fd, first, len(first), snap.size))]
    if check:
        jobs.append(lambda: results.update(problem=snap.integrity_errors()))
    if target_fd is not None:
        def copy():
            write_all(target_fd, first)
            _copy_range(snap.fd, target_fd, len(first), snap.size)
            os.ftruncate(target_fd, snap.size)
            os.fsync(target_fd)  # here, so the disk writes overlap whatever else is still running
        jobs.append(copy)
    errors = []

    def guarded(job):
        try:
            job()
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    try:
        if stream_fd is not None:
            widen_pipe(stream_fd)
            def send(fd):
                write_all(fd, first)
                _send_range(snap.fd, fd, len(first), snap.size)
            if compress:
                send_compressed(send, stream_fd, compress)
            else:
                send(stream_fd)
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    results.setdefault("problem", None)
    return results


def restore_into(backup_path, live_path):
    """Replace the live database's content in one transaction (backup API into it)."""
    source = open_readonly(backup_path)
    target = sqlite3.connect(live_path, timeout=30)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def replace_live(backup_path, live_path):
    """Give the live database the backup's content (no safety copy); returns how (see sqlite_exclusive)."""
    from .sqlite_exclusive import swap_exactly

    staged = stage(backup_path, live_path)
    try:
        return swap_exactly(staged, backup_path, live_path, None)
    finally:
        if staged is not None and os.path.exists(staged):
            os.unlink(staged)


def stage(backup_path, live_path, consume=False):
    """The backup as a file beside the live one, with its owner, mode and journal mode, ready to be renamed
    over it: a copy, or with consume the backup file itself moved there (same file system). None when this
    user could not give a new file the live file's owner or cannot write the directory."""
    try:
        live = os.stat(live_path)
    except FileNotFoundError:
        return None
    directory = os.path.dirname(os.path.abspath(live_path))
    if (live.st_uid != os.geteuid() and os.geteuid() != 0) or not os.access(directory, os.W_OK | os.X_OK):
        return None
    probe = sqlite3.connect(live_path, timeout=30)
    try:
        mode = probe.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        probe.close()
    staged = live_path + "-restoring"
    if os.path.exists(staged):
        os.unlink(staged)
    if consume and os.stat(backup_path).st_dev == live.st_dev:
        os.rename(backup_path, staged)
    else:
        source = os.open(backup_path, os.O_RDONLY)
        try:
            target = os.open(staged, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _copy_range(source, target, 0, os.fstat(source).st_size)
            finally:
                os.close(target)
        finally:
            os.close(source)
    try:
        if os.geteuid() == 0:
            os.chown(staged, live.st_uid, live.st_gid)
        os.chmod(staged, live.st_mode & 0o7777)
        connection = sqlite3.connect(staged, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=%s" % ("WAL" if mode == "wal" else "DELETE"))
        finally:
            connection.close()
        fd = os.open(staged, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        os.unlink(staged)
        raise
    return staged


def backup_sqlite(db_path, dest_dir, params, extra, stream=None, check=True):
    """Copy, verify, checksum and describe one backup; returns its manifest. With `stream` (a binary file),
    the copy's bytes also go there, framed by a STREAM_MARKER line giving their count. check=False skips
    integrity_check (a safety copy of a database about to be replaced is kept even if it is damaged)."""
    if not os.path.exists(db_path):
        raise ServerError("database file %s does not exist: run migrate first" % db_path)
    os.makedirs(dest_dir, mode=0o700, exist_ok=True)
    name = backup_name(dest_dir, os.path.splitext(db_path)[0], params.get("label"), ".sqlite3")
    final = os.path.join(dest_dir, name)
    partial = final + ".partial"
    started = time.time()
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    snap = None
    try:
        snap = Snapshot.take(db_path)
        method = "snapshot"
        if snap is None:  # long-lived readers hold the WAL: fall back to the backup API, then ship that copy
            os.close(fd)
            fd = None
            online_copy(db_path, partial)
            snap = Snapshot.of_file(partial)
            method = "online backup API"
        migrations = snap.migrations()
        zstd = None
        if stream is not None:
            header = {"file": name, "size": snap.size}
            zstd = compressor_for(params, snap.fd, snap.size)
            if zstd:
                header.update(chunked=True, compression=CODEC)
            stream.write(("\n%s%s\n" % (STREAM_MARKER, json.dumps(header))).encode())
            stream.flush()
        copied = copy_snapshot(snap, target_fd=fd, stream_fd=stream.fileno() if stream is not None else None,
                               check=check, compress=zstd)
        if copied["problem"]:
            raise ServerError("backup copy failed its integrity check (%s); the database may be damaged" % copied["problem"])
        manifest = {
            "file": name,
            "engine": "sqlite",
            "database": db_path,
            "host": params.get("host") or os.uname().nodename,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "size": snap.size,
            "sha256": copied["sha256"],
            "migrations": migrations,
            "verified": "PRAGMA integrity_check" if check else "sha256 only",
            "method": method,
            "tool": "deploytasks " + params.get("version", "?"),
            "seconds": round(time.time() - started, 3),
        }
        manifest.update(extra)
        publish_backup(partial, final, manifest)
        if check:  # integrity_check passed on the snapshot whose bytes these are: a restore of them need not run it
            remember_read_back(dest_dir, copied["sha256"])
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    finally:
        if snap is not None:
            snap.close()
        if fd is not None:
            os.close(fd)
    return manifest


class SQLite(Engine):
    vendor = "sqlite"
    suffix = ".sqlite3"
    verified_when_made = "integrity_check (run when this machine made it; the same sha256)"

    @staticmethod
    def looks_like(head):
        return head.startswith(SQLITE_HEADER)

    def has_data(self):
        return os.path.exists(self.database["name"])

    def backup(self, dest_dir, params, extra, stream=None, check=True):
        self.close()
        return backup_sqlite(self.database["name"], dest_dir, params, extra, stream=stream, check=check)

    def verify(self, path):
        if not looks_like_sqlite(path):
            return "%s is not an SQLite database" % path
        return integrity_errors(path)

    def migrations_in(self, path):
        try:
            return applied_migrations(path)
        except sqlite3.DatabaseError as exc:
            raise ServerError("%s failed PRAGMA integrity_check: %s" % (path, exc)) from None

    def check_kind(self, path, manifest):
        if manifest and manifest.get("engine") != "sqlite":
            raise ServerError("%s is a %s backup, but the %r database is %s: restore it into a %s database" % (
                os.path.basename(path), manifest.get("engine"), self.database["alias"], self.database["vendor"],
                manifest.get("engine")))

    def check_backup(self, path, manifest, params, fingerprint):
        """Size, sha256 and integrity_check against the manifest. When this machine made a backup with that sha256
        (and integrity_check passed on it then: its sha256 is in the backups directory's record, see
        manifests.remember_read_back), the very bytes are not checked again; the sha256 still is."""
        size = fingerprint[0]
        digest = {}
        hasher = None
        if manifest:
            if manifest.get("size") is not None and size != manifest["size"]:
                raise ServerError("%s is %d bytes but its manifest says %d: the file is truncated or changed" % (
                    path, size, manifest["size"]))
            received = params.get("received") or {}
            if received.get("fingerprint") == fingerprint:  # hashed as it arrived, and unchanged since
                digest["sha256"] = received["sha256"]
            else:
                hasher = threading.Thread(target=lambda: digest.update(sha256=sha256_of(path)))
                hasher.start()
        if not looks_like_sqlite(path):
            if hasher:
                hasher.join()
            raise ServerError("%s is not an SQLite database" % path)
        checked_when_made = bool(manifest) and read_back_here(params.get("safety_dest"), manifest.get("sha256"))
        # Restoring over a live database: integrity_check runs beside the safety backup, before anything is replaced.
        deferred = bool(params.get("apply")) and os.path.exists(self.database["name"]) and not checked_when_made
        problem = None if deferred or checked_when_made else integrity_errors(path)
        if hasher:
            hasher.join()
        if manifest and digest["sha256"] != manifest.get("sha256"):
            raise ServerError("%s does not match its manifest's sha256 (%s… vs %s…): the file is damaged or not the "
                              "one backed up" % (path, digest["sha256"][:12], str(manifest.get("sha256"))[:12]))
        if problem:
            raise ServerError("%s failed PRAGMA integrity_check: %s" % (path, problem))
        if checked_when_made:  # the sha256 above matched: these are the bytes integrity_check passed
            self.verified = self.verified_when_made
        return deferred

    def restore(self, path, safety):
        self.close()
        return replace_live(path, self.database["name"])

    def restore_backup(self, path, params, deferred):
        self.close()
        live = self.database["name"]
        result = {"safety_backup": None}
        if os.path.exists(live):
            result.update(self._swap_over_live(path, params, deferred))
        else:
            os.makedirs(os.path.dirname(live) or ".", exist_ok=True)
            restore_into(path, live)
            result["method"] = "online backup API"
        if result["method"] != "renamed into place":  # a renamed file is the one integrity_check passed
            problem = integrity_errors(live, live=True)
            if problem:
                raise ServerError("restored database failed its integrity check (%s): restore %s" % (
                    problem, result["safety_backup"]))
        return result

    def _swap_over_live(self, path, params, deferred):
        """Check and stage the new file, then the safety copy and the swap under one exclusive lock
        (sqlite_exclusive): a row committed before the lock is in the safety backup, none commits during it."""
        from .sqlite_exclusive import SafetyCopy, swap_exactly

        live = self.database["name"]
        if params.get("consume"):  # the upload is about to become the live file: its disk writes start now
            flusher = threading.Thread(target=fsync_path, args=(path,))
            flusher.start()
        try:
            problem = integrity_errors(path) if deferred else None
        finally:
            if params.get("consume"):
                flusher.join()
        if problem:
            raise ServerError("%s failed PRAGMA integrity_check: %s" % (path, problem))
        staged = stage(path, live, consume=params.get("consume"))
        safety = SafetyCopy(live, params["safety_dest"], params,
                            {"database_alias": self.database["alias"], "reason": "safety backup before restore"})
        try:
            method = swap_exactly(staged, path, live, safety)
            manifest = safety.publish(method)
        except BaseException:
            safety.discard()
            raise
        finally:
            if staged and os.path.exists(staged):
                os.unlink(staged)
        return {"safety_backup": manifest["path"], "method": method, "writers_held_seconds": safety.seconds}

    def copy_for_rehearsal(self, backup_path):
        rehearsal = backup_path + ".rehearsal"
        shutil.copyfile(backup_path, rehearsal)
        return {"NAME": rehearsal}

    def drop_copy(self, copy):
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(copy["NAME"] + suffix):
                os.unlink(copy["NAME"] + suffix)

