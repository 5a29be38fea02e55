# Migrating a database to a recorded state ({app: [applied names]}), with reversibility checked first.
import io
import shutil

from django.core.management import call_command
from django.db.migrations.executor import MigrationExecutor


def applied_now(alias):
    executor = MigrationExecutor(connections[alias])
    state = {}
    for app, name in executor.loader.applied_migrations:
        state.setdefault(app, []).append(name)
    files = migration_files(executor.loader)
    return {app: [n for n in files.get(app, []) if n in names] for app, names in state.items()}


def targets_for(alias, wanted):
    """[(app, name|None)] that take each app back to `wanted` (None: zero)."""
    executor = MigrationExecutor(connections[alias])
    files = migration_files(executor.loader)
    targets = []
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


def rehearse_on_copy(alias, copy_from):
    """Run all pending migrations on a copy of an SQLite backup; raises what migrate raised."""
    connection = connections[alias]
    rehearsal = copy_from + ".rehearsal"
    shutil.copyfile(copy_from, rehearsal)
    original = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = rehearsal
    try:
        call_command("migrate", database=alias, interactive=False, verbosity=0, stdout=io.StringIO())
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(rehearsal + suffix):
                os.unlink(rehearsal + suffix)
