# Deploy, part 2, inside the new release (the live one keeps serving): system checks, collectstatic,
# and when migrations are pending: backup, rehearsal on a copy, migrate. Undoes its migrations on failure.
from django.core import checks as django_checks

P = PARAMS
alias = P.get("database", "default")
database = database_info(alias)
result = {"database": database}

errors = [m for m in django_checks.run_checks(databases=[alias]) if m.is_serious() and not m.is_silenced()]
if errors:
    fail("system check failed in the new release: %s" % str(errors[0]).splitlines()[0])

if P.get("collectstatic", True):
    output = io.StringIO()
    try:
        call_command("collectstatic", interactive=False, verbosity=1, stdout=output)
    except Exception as exc:
        fail("collectstatic failed in the new release: %s: %s" % (type(exc).__name__, exc))
    lines = [line for line in output.getvalue().splitlines() if "static file" in line]
    result["collectstatic"] = lines[-1].strip() if lines else "done"

executor = MigrationExecutor(connections[alias])
conflicts = executor.loader.detect_conflicts()
if conflicts:
    app, names = sorted(conflicts.items())[0]
    fail("conflicting migrations in %s (%s): run `manage.py makemigrations --merge` and commit" % (app, ", ".join(sorted(names))))
plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
before = applied_now(alias)
result["state_before"] = before
result["pending"] = ["%s.%s" % (m.app_label, m.name) for m, backwards in plan if not backwards]
if result["pending"]:
    if database["vendor"] == "sqlite" and os.path.exists(database["name"]):
        connections[alias].close()
        manifest = backup_sqlite(database["name"], P["backup_dest"], dict(P, label="pre-deploy"),
                                 {"database_alias": alias, "reason": "before deploying release %s" % P.get("release")})
        result["backup"] = manifest["path"]
        try:
            rehearse_on_copy(alias, manifest["path"])
        except Exception as exc:
            fail("migration failed in the rehearsal on a copy of the database, nothing was applied: %s: %s" % (
                type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else ""))
        result["rehearsed"] = True
    elif database["vendor"] in DUMP_ENGINES:  # PostgreSQL, MySQL: a backup, no rehearsal (_dumps.py)
        manifest = backup_dump(database, P["backup_dest"], dict(P, label="pre-deploy"),
                               {"database_alias": alias, "reason": "before deploying release %s" % P.get("release")})
        result["backup"] = manifest["path"]
        result["rehearsed"] = False
    else:
        result["rehearsed"] = False
    try:
        call_command("migrate", database=alias, interactive=False, verbosity=0, stdout=io.StringIO())
    except Exception as exc:
        message = "migrate failed: %s: %s" % (type(exc).__name__, exc)
        try:
            migrate_to(alias, before)
            message += "; the migrations it applied were unapplied"
        except Exception as undo_exc:
            message += "; undoing failed too (%s): restore %s" % (undo_exc, result.get("backup"))
        fail(message)
result["state_after"] = applied_now(alias)
emit(result)
