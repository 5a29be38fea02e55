# Verify a backup (and, with apply, take a safety backup and restore it into the live database).
database = database_info(PARAMS.get("database", "default"))
if database["vendor"] in DUMP_ENGINES:  # PostgreSQL, MySQL/MariaDB: _dumps.py (emits the report, exits)
    restore_dump(database, PARAMS)
path = PARAMS["file"]
manifest_path = path + ".json"
if not os.path.isfile(path):
    fail("backup file %s not found" % path)
manifest = None
if os.path.isfile(manifest_path):
    try:
        with open(manifest_path) as handle:
            manifest = json.load(handle)
    except ValueError:
        fail("manifest %s is not valid JSON: the backup cannot be verified" % manifest_path)
elif not PARAMS.get("unverified"):
    fail("no manifest %s beside the backup, so its checksum cannot be verified: pass --unverified to restore it anyway" % manifest_path)
if manifest and manifest.get("engine") != "sqlite":
    fail("%s is a %s backup, but the %r database is %s: restore it into a %s database" % (
        os.path.basename(path), manifest.get("engine"), database["alias"], database["vendor"], manifest.get("engine")))
if database["vendor"] != "sqlite":
    fail("restores into %s databases are not supported yet (SQLite only)" % database["vendor"])
size = os.path.getsize(path)
status = os.stat(path)
fingerprint = [status.st_size, status.st_mtime_ns, status.st_ino]
if PARAMS.get("verified") != fingerprint:  # apply after a check of this very file skips the second read
    if manifest:
        if manifest.get("size") is not None and size != manifest["size"]:
            fail("%s is %d bytes but its manifest says %d: the file is truncated or changed" % (path, size, manifest["size"]))
        digest = {}
        hasher = threading.Thread(target=lambda: digest.update(sha256=sha256_of(path)))
        hasher.start()
    if not looks_like_sqlite(path):
        if manifest:
            hasher.join()
        fail("%s is not an SQLite database" % path)
    problem = integrity_errors(path)
    if manifest:
        hasher.join()
        if digest["sha256"] != manifest.get("sha256"):
            fail("%s does not match its manifest's sha256 (%s… vs %s…): the file is damaged or not the one backed up" % (
                path, digest["sha256"][:12], str(manifest.get("sha256"))[:12]))
    if problem:
        fail("%s failed PRAGMA integrity_check: %s" % (path, problem))

files = migration_files(load_migrations(None))  # offline: verifying must not open (or create) the live file
restored = applied_migrations(path)
comparison = {}
for app in sorted(set(files) | set(restored)):
    known = files.get(app, [])
    have = restored.get(app, [])
    comparison[app] = {
        "backup_applied": len([n for n in have if n in known]),
        "backup_latest": have[-1] if have else None,
        "code_latest": known[-1] if known else None,
        "code_total": len(known),
        "missing": [n for n in known if n not in have],
        "unknown": [n for n in have if n not in known],
    }
result = {"file": path, "size": size, "fingerprint": fingerprint, "manifest": manifest, "database": database, "migrations": comparison}
if PARAMS.get("apply"):
    connections[database["alias"]].close()
    if os.path.exists(database["name"]):
        safety = backup_sqlite(database["name"], PARAMS["safety_dest"], dict(PARAMS, label="pre-restore"),
                               {"database_alias": database["alias"], "reason": "safety backup before restore"})
        result["safety_backup"] = safety["path"]
    else:
        result["safety_backup"] = None
        os.makedirs(os.path.dirname(database["name"]) or ".", exist_ok=True)
    restore_into(path, database["name"])
    problem = integrity_errors(database["name"], live=True)
    if problem:
        fail("restored database failed its integrity check (%s): restore %s" % (problem, result["safety_backup"]))
    result["restored"] = True
emit(result)
