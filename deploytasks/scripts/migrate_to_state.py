# Rollback's schema step, run with the code that has the migration files: back up, then unapply
# migrations down to a recorded state. Refuses when one on the way is irreversible.
P = PARAMS
alias = P.get("database", "default")
database = database_info(alias)
targets = targets_for(alias, P["state"])
undo = ["%s.%s" % (m.app_label, m.name) for m, _ in backwards_plan(alias, targets)]
blocked = irreversible_in(alias, targets)
result = {"unapply": undo, "irreversible": blocked}
if blocked:
    fail("%s is irreversible, so the schema cannot be rolled back: restore the backup taken before it (`fab restore FILE`) instead" % blocked[0])
if P.get("check_only") or not undo:
    emit(result)
    raise SystemExit(0)
if P.get("backup_dest") and database["vendor"] == "sqlite" and os.path.exists(database["name"]):
    connections[alias].close()
    manifest = backup_sqlite(database["name"], P["backup_dest"], dict(P, label="pre-rollback"),
                             {"database_alias": alias, "reason": "before rolling back"})
    result["backup"] = manifest["path"]
elif P.get("backup_dest") and database["vendor"] in DUMP_ENGINES:  # PostgreSQL, MySQL (_dumps.py)
    manifest = backup_dump(database, P["backup_dest"], dict(P, label="pre-rollback"),
                           {"database_alias": alias, "reason": "before rolling back"})
    result["backup"] = manifest["path"]
result["unapplied"] = migrate_to(alias, P["state"])
emit(result)
