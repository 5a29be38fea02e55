# Verify a backup (and, with apply, take a safety backup and restore it into the live database).
database = database_info(PARAMS.get("database", "default"))
if database["vendor"] in DUMP_ENGINES:  # PostgreSQL, MySQL/MariaDB: _dumps.py (emits the report, exits)
    restore_dump(database, PARAMS)
path = PARAMS["file"]
manifest = read_manifest(path, PARAMS.get("unverified"))
if manifest and manifest.get("engine") != "sqlite":
    fail("%s is a %s backup, but the %r database is %s: restore it into a %s database" % (
        os.path.basename(path), manifest.get("engine"), database["alias"], database["vendor"], manifest.get("engine")))
if database["vendor"] != "sqlite":
    fail("restores into %s databases are not supported (SQLite, PostgreSQL and MySQL/MariaDB are)" % database["vendor"])
size = os.path.getsize(path)
status = os.stat(path)
fingerprint = [status.st_size, status.st_mtime_ns, status.st_ino]
if PARAMS.get("verified") != fingerprint:  # apply after a check of this very file skips the second read
    digest = {}
    hasher = None
    if manifest:
        if manifest.get("size") is not None and size != manifest["size"]:
            fail("%s is %d bytes but its manifest says %d: the file is truncated or changed" % (path, size, manifest["size"]))
        received = PARAMS.get("received") or {}
        if received.get("fingerprint") == fingerprint:  # hashed as it arrived, and unchanged since
            digest["sha256"] = received["sha256"]
        else:
            hasher = threading.Thread(target=lambda: digest.update(sha256=sha256_of(path)))
            hasher.start()
    if not looks_like_sqlite(path):
        if hasher:
            hasher.join()
        fail("%s is not an SQLite database" % path)
    # Restoring over a live database: integrity_check runs beside the safety backup, before anything is replaced.
    deferred = bool(PARAMS.get("apply")) and os.path.exists(database["name"])
    problem = None if deferred else integrity_errors(path)
    if hasher:
        hasher.join()
    if manifest and digest["sha256"] != manifest.get("sha256"):
        fail("%s does not match its manifest's sha256 (%s… vs %s…): the file is damaged or not the one backed up" % (
            path, digest["sha256"][:12], str(manifest.get("sha256"))[:12]))
    if problem:
        fail("%s failed PRAGMA integrity_check: %s" % (path, problem))
else:
    deferred = False

files = migration_files(load_migrations(None))  # offline: verifying must not open (or create) the live file
try:
    restored = applied_migrations(path)
except sqlite3.DatabaseError as exc:
    fail("%s failed PRAGMA integrity_check: %s" % (path, exc))
result = {"file": path, "size": size, "fingerprint": fingerprint, "manifest": manifest, "database": database,
          "migrations": compare_migrations(files, restored)}
if PARAMS.get("apply"):
    connections[database["alias"]].close()
    live = database["name"]
    result["safety_backup"] = None
    if os.path.exists(live):
        # The safety backup and the staging of the new file read and write different files: side by side.
        taken = {}

        def take_safety():
            try:
                taken["manifest"] = backup_sqlite(
                    live, PARAMS["safety_dest"], dict(PARAMS, label="pre-restore"),
                    {"database_alias": database["alias"], "reason": "safety backup before restore"}, check=False)
            except BaseException as exc:
                taken["error"] = exc

        def flush_upload():  # the upload is about to become the live file: its disk writes start now
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        safety = threading.Thread(target=take_safety)
        safety.start()
        flusher = threading.Thread(target=flush_upload)
        if PARAMS.get("consume"):
            flusher.start()
        staged = None
        try:
            problem = integrity_errors(path) if deferred else None
            if not problem:
                staged = stage(path, live, consume=PARAMS.get("consume"))
        finally:
            safety.join()
            if flusher.ident:
                flusher.join()
        if "error" in taken or problem:
            if staged and os.path.exists(staged):
                os.unlink(staged)
            if problem:
                for leftover in ([taken["manifest"]["path"], taken["manifest"]["path"] + ".json"] if "manifest" in taken else []):
                    if os.path.exists(leftover):
                        os.unlink(leftover)
                fail("%s failed PRAGMA integrity_check: %s" % (path, problem))
            raise taken["error"]
        result["safety_backup"] = taken["manifest"]["path"]
        try:
            result["method"] = swap_in(staged, path, live)
        finally:
            if staged and os.path.exists(staged):
                os.unlink(staged)
    else:
        os.makedirs(os.path.dirname(live) or ".", exist_ok=True)
        restore_into(path, live)
        result["method"] = "online backup API"
    if result["method"] != "renamed into place":  # a renamed file is the one integrity_check passed above
        problem = integrity_errors(database["name"], live=True)
        if problem:
            fail("restored database failed its integrity check (%s): restore %s" % (problem, result["safety_backup"]))
    result["restored"] = True
    finish_restore(PARAMS, path, result)
emit(result)
