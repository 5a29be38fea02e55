# Back up the project's database (SQLite: online backup API), verify it, write its manifest, prune.
database = database_info(PARAMS.get("database", "default"))
if database["vendor"] in DUMP_ENGINES:  # PostgreSQL, MySQL/MariaDB: _dumps.py (emits the manifest, exits)
    backup_dump_and_prune(database, PARAMS)
if database["vendor"] != "sqlite":
    fail("backups of %s databases are not supported yet (SQLite only)" % database["vendor"])
connections[database["alias"]].close()
manifest = backup_sqlite(database["name"], PARAMS["dest"], PARAMS, {"database_alias": database["alias"]})
manifest["pruned"] = prune_backups(PARAMS["dest"], PARAMS.get("keep"), protect=(manifest["file"],))
emit(manifest)
