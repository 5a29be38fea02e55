# Back up the project's database (SQLite: a checkpointed snapshot copied while it is held), verify it, write
# its manifest, prune. With PARAMS["stream"], the copy's bytes also go to stdout as they are written.
database = database_info(PARAMS.get("database", "default"))
if database["vendor"] in DUMP_ENGINES:  # PostgreSQL, MySQL/MariaDB: _dumps.py (emits the manifest, exits)
    backup_dump_and_prune(database, PARAMS)
if database["vendor"] != "sqlite":
    fail("backups of %s databases are not supported (SQLite, PostgreSQL and MySQL/MariaDB are)" % database["vendor"])
connections[database["alias"]].close()
stream = None
if PARAMS.get("stream"):
    sys.stdout.flush()
    stream = sys.stdout.buffer
manifest = backup_sqlite(database["name"], PARAMS["dest"], PARAMS, {"database_alias": database["alias"]}, stream=stream)
manifest["pruned"] = prune_backups(PARAMS["dest"], PARAMS.get("keep"), protect=(manifest["file"],))
emit(manifest)
