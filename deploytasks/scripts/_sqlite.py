# SQLite dump/verify/restore used by the backup and restore scripts.
import sqlite3
import threading
import time

SQLITE_HEADER = b"SQLite format 3\x00"


def looks_like_sqlite(path):
    with open(path, "rb") as handle:
        return handle.read(16) == SQLITE_HEADER


def open_readonly(path):
    return sqlite3.connect("file:%s?mode=ro&immutable=1" % path.replace("?", "%3f").replace("#", "%23"), uri=True)


def integrity_errors(path, live=False):
    """None when PRAGMA integrity_check says ok, else its first lines."""
    try:
        connection = sqlite3.connect(path, timeout=30) if live else open_readonly(path)
        try:
            rows = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows[:3])


def applied_migrations(path):
    """{app: [name, ...]} read from the file's django_migrations table."""
    connection = open_readonly(path)
    try:
        try:
            rows = connection.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
        except sqlite3.OperationalError:
            return {}
    finally:
        connection.close()
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


def restore_into(backup_path, live_path):
    """Replace the live database's content in one transaction (backup API into it)."""
    source = open_readonly(backup_path)
    target = sqlite3.connect(live_path, timeout=30)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def backup_sqlite(db_path, dest_dir, params, extra):
    """Copy, verify, checksum and describe one backup; returns its manifest."""
    if not os.path.exists(db_path):
        fail("database file %s does not exist: run migrate first" % db_path)
    os.makedirs(dest_dir, mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    stem = os.path.splitext(os.path.basename(db_path))[0] or "db"
    label = params.get("label")
    base = "%s-%s%s" % (stem, stamp, "-" + label if label else "")
    name = base + ".sqlite3"
    counter = 1
    while os.path.exists(os.path.join(dest_dir, name)):
        counter += 1
        name = "%s-%d.sqlite3" % (base, counter)
    final = os.path.join(dest_dir, name)
    partial = final + ".partial"
    started = time.time()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    try:
        online_copy(db_path, partial)
        digest = {}
        hasher = threading.Thread(target=lambda: digest.update(sha256=sha256_of(partial)))
        hasher.start()  # hashing and the integrity check both release the GIL: run them side by side
        problem = integrity_errors(partial)
        hasher.join()
        if problem:
            fail("backup copy failed its integrity check (%s); the database may be damaged" % problem)
        manifest = {
            "file": name,
            "engine": "sqlite",
            "database": db_path,
            "host": params.get("host") or os.uname().nodename,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "size": os.path.getsize(partial),
            "sha256": digest["sha256"],
            "migrations": applied_migrations(partial),
            "verified": "PRAGMA integrity_check",
            "tool": "deploytasks " + params.get("version", "?"),
            "seconds": round(time.time() - started, 3),
        }
        manifest.update(extra)
        os.chmod(partial, 0o600)
        os.replace(partial, final)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    write_private(final + ".json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    manifest["path"] = final
    return manifest


def prune_backups(dest_dir, keep, engine_file_suffix=".sqlite3", protect=()):
    """Delete the oldest backups (with a manifest) beyond `keep`; returns removed names."""
    if not keep or not os.path.isdir(dest_dir):
        return []
    entries = []
    for entry in os.listdir(dest_dir):
        if entry.endswith(".json"):
            dump = os.path.join(dest_dir, entry[:-5])
            if os.path.exists(dump):
                try:
                    with open(os.path.join(dest_dir, entry)) as handle:
                        created = json.load(handle).get("created", "")
                    written = os.stat(os.path.join(dest_dir, entry)).st_mtime_ns  # orders same-second backups
                except (OSError, ValueError):
                    continue
                entries.append((created, written, entry[:-5]))
    entries.sort(reverse=True)
    removed = []
    for _, _, name in entries[keep:]:
        if name in protect:
            continue
        for path in (os.path.join(dest_dir, name), os.path.join(dest_dir, name + ".json")):
            if os.path.exists(path):
                os.unlink(path)
        removed.append(name)
    return removed
