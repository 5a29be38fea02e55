"""Migrating a database to a recorded state ({app: [applied names]}), reversibility checked first; and the
entry that takes the schema back for a rollback."""
import io
import os

from django.core.management import call_command
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from . import squashes
from .cancel_watch import RehearsalInterrupted
from .django_info import engine_for_alias, has_tables, is_reversible, migration_files
from .errors import ServerError
from .results import LeftBehind, SchemaRollback


def applied_now(alias):
    executor = MigrationExecutor(connections[alias])
    state = {}
    for app, name in executor.loader.applied_migrations:
        state.setdefault(app, []).append(name)
    files = migration_files(executor.loader)
    return {app: [n for n in files.get(app, []) if n in names] for app, names in state.items()}


def missing_from(alias, wanted):
    """"app.name" of the migrations in `wanted` (a release's recorded state) that the database does not have
    applied: a release whose state has any needs migrations applied, not unapplied (its code would run ahead of
    the schema). Counted from django_migrations as recorded, so that migrations the live code has no file for
    count too; a squashed migration the live code knows counts as applied when all it replaces are."""
    from django.db.migrations.recorder import MigrationRecorder

    executor = MigrationExecutor(connections[alias])
    recorded = set(MigrationRecorder(connections[alias]).applied_migrations()) | set(
        executor.loader.applied_migrations)
    missing = []
    for app, names in sorted((wanted or {}).items()):
        for name in names:
            squashed = executor.loader.replacements.get((app, name))
            replaces = [tuple(key) for key in (getattr(squashed, "replaces", None) or [])]
            if (app, name) in recorded or (replaces and all(key in recorded for key in replaces)):
                continue
            missing.append("%s.%s" % (app, name))
    return missing


def targets_for(alias, wanted):
    """[(app, name|None)] that take each app back to `wanted` (None: zero)."""
    executor = MigrationExecutor(connections[alias])
    files = migration_files(executor.loader)
    targets = []
    # a record made before a squash (the replaced names), or after one (the squashed name alone)
    wanted = squashes.state(executor.loader, squashes.with_replaced(executor.loader, squashes.recorded_keys(wanted)))
    for app, names in sorted(applied_now(alias).items()):
        keep = wanted.get(app, [])
        if set(names) <= set(keep):
            continue
        ordered = [n for n in files.get(app, []) if n in keep]
        targets.append((app, ordered[-1] if ordered else None))
    return targets


def backwards_plan(alias, targets):
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(targets)
    return [(migration, backwards) for migration, backwards in plan if backwards]


def irreversible_in(alias, targets):
    return ["%s.%s" % (m.app_label, m.name) for m, _ in backwards_plan(alias, targets) if not is_reversible(m)]


def migrate(alias):
    call_command("migrate", database=alias, interactive=False, verbosity=0, stdout=io.StringIO())


def migrate_to(alias, wanted):
    """Unapply migrations not in `wanted`; returns the names unapplied."""
    targets = targets_for(alias, wanted)
    blocked = irreversible_in(alias, targets)
    if blocked:
        raise RuntimeError("%s is irreversible" % blocked[0])
    undone = ["%s.%s" % (m.app_label, m.name) for m, _ in backwards_plan(alias, targets)]
    for app, name in targets:
        call_command("migrate", app, name or "zero", database=alias, interactive=False, verbosity=0,
                     stdout=io.StringIO())
    return undone


class RehearsalFailed(Exception):
    """A migration failed on the copy: `migration` ("app.name", or None when the copy could not tell) and the
    exception it raised (`error`)."""

    def __init__(self, migration, error):
        super().__init__(migration, error)
        self.migration, self.error = migration, error


def first_pending(alias):
    """"app.name" of the first migration still to apply on `alias`, or None."""
    try:
        executor = MigrationExecutor(connections[alias])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:  # noqa: BLE001 - a copy in a state Django cannot read: the error says the rest
        return None
    return next(("%s.%s" % (m.app_label, m.name) for m, backwards in plan if not backwards), None)


def rehearse(alias, engine, backup_path):
    """Run all pending migrations on the engine's copy of a backup; raises RehearsalFailed naming the migration
    that failed (engines.base.RehearsalSkipped when the engine cannot make a copy)."""
    connection = connections[alias]
    copy = engine.copy_for_rehearsal(backup_path)
    original = {key: connection.settings_dict.get(key) for key in copy}
    connection.close()
    connection.settings_dict.update(copy)
    try:
        try:
            migrate(alias)
        except RehearsalInterrupted:
            raise
        except Exception as exc:
            raise RehearsalFailed(first_pending(alias), exc) from exc
    finally:
        connection.close()
        connection.settings_dict.update(original)
        engine.drop_copy(copy)


def safety_backup(alias, engine, params, label, reason, rehearsal=False):
    """A backup into params["backup_dest"] before the schema changes (None when there is nothing to back up);
    rehearsal: migrations are rehearsed on a copy of it next (engine.backup_for_rehearsal)."""
    if engine is None or not engine.has_data() or not has_tables(alias):
        return None  # a database that does not exist yet, or is empty: nothing to keep (no 0-byte backup)
    from .backup import described

    backup = engine.backup_for_rehearsal if rehearsal else engine.backup
    return backup(params["backup_dest"], dict(params, label=label), dict(described(alias), reason=reason))


def restore_instead(params, database, migration):
    """What to do about an irreversible `migration` (app.name): restore the newest backup taken before it, named
    when the backups directory holds one."""
    from .manifests import latest_without

    directory = params.get("backups_dir") or params.get("backup_dest")
    fab = params.get("fab") or "fab"  # `fab -H prod` as the user named the host (the migrate host of a fleet)
    app, _, name = migration.partition(".")
    found = latest_without(directory, database.get("name"), app, name) if directory else None
    then = ", then `%s rollback` again (the restored schema is before it)" % (params.get("fleet_fab") or fab)
    if found is None:
        return ("restore the backup taken before it instead (`%s backups` lists them; `%s restore NAME` downloads "
                "and restores one)%s" % (fab, fab, then))
    return "restore the backup taken before it instead: `%s restore %s` (%s)%s" % (
        fab, os.path.basename(found["path"]), found.get("created", "?"), then)


def to_state(params) -> SchemaRollback:
    """Entry: rollback's schema step, run with the code that has the migration files: back up, then unapply
    migrations down to a recorded state. Refuses when one on the way is irreversible."""
    alias = params.get("database", "default")
    database, engine = engine_for_alias(alias)
    targets = targets_for(alias, params["state"])
    backwards = backwards_plan(alias, targets)
    undo = ["%s.%s" % (m.app_label, m.name) for m, _ in backwards]
    blocked = irreversible_in(alias, targets)
    result = {"unapply": undo, "irreversible": blocked}
    if blocked:
        raise ServerError("%s is irreversible, so the schema cannot be rolled back: %s" % (
            blocked[0], restore_instead(params, database, blocked[0])))
    if params.get("check_only"):  # the rollback's plan: what the target needs beyond the schema refuses it
        return dict(result, missing=missing_from(alias, params["state"]),
                    switch_first=target_code_fits(alias, backwards))
    if undo:
        if params.get("backup_dest"):
            manifest = safety_backup(alias, engine, params, "pre-rollback", "before rolling back")
            if manifest:
                result["backup"] = manifest["path"]
                if params.get("journal"):  # so whoever undoes an unapply stopped half-way can name it
                    from . import journal
                    from .layout import ServerLayout

                    journal.update(ServerLayout(params["journal"]), backup=manifest["path"])
        result["unapplied"] = migrate_to(alias, params["state"])
    if params.get("report_leftovers") and database.get("vendor") == "mysql":
        result["left_behind"] = leftovers(alias)
    return result


# lint rules of a migration whose schema the code before it cannot serve over (migration_lint.WHY_INSTEAD)
BREAKS_OLDER_CODE = {"remove-field", "delete-model", "rename-field", "rename-model", "add-not-null", "alter-not-null",
                     "alter-type"}


def target_code_fits(alias, backwards) -> bool:
    """Whether the release a rollback goes to can serve over the schema before the migrations to unapply (`backwards`,
    migration_plan's) are unapplied: they only add what the code before them ignores (a nullable column, a table, an
    index, data), as the deploy's migration lint finds, or a reviewer marked them safe. Then the rollback switches
    first and unapplies after: unapplied first, the live code lost its columns before its workers were replaced, and
    answered 500 meanwhile."""
    from .migration_lint import lint

    if not backwards:
        return False
    connection = connections[alias]
    forward = [(migration, False) for migration, _ in reversed(backwards)]
    findings = lint(MigrationExecutor(connection).loader, forward, connection.vendor)["findings"]
    return not any(finding["rule"] in BREAKS_OLDER_CODE for finding in findings)


def left_behind(params) -> LeftBehind:
    """Entry schema_left_behind: what a migration (or its reverse) stopped half-way left in a MySQL/MariaDB schema,
    which commits each DDL statement ({"left_behind": []} on other engines: their migrations roll back whole)."""
    alias = params.get("database", "default")
    database, _ = engine_for_alias(alias)
    return {"left_behind": leftovers(alias) if database.get("vendor") == "mysql" else []}


def leftovers(alias):
    """What the live schema has beyond what its applied migrations make (a migration stopped half-way on MySQL,
    which commits each DDL statement): schema_drift's differences; [] when it cannot be compared."""
    from .schema_drift import compare

    try:
        return compare(alias).get("differences") or []
    except Exception:  # noqa: BLE001 - a report, never the undo's failure
        return []
