"""The migrations.* tasks: plain functions over the target (`target_for(c)`), collected for each side."""
from invoke import Collection, task

from . import backups as backup_store
from . import steps, tables
from .django import introspect
from .migration_graph import guard_backwards, resolve_target, state_summary
from .errors import reported
from .output import console
from .prompt import confirm
from .shell import is_dry, run
from .target import target_for

MIGRATE_HELP = {
    "target": "migration name or prefix, 'zero', or 'latest'; earlier than the applied state migrates backwards",
    "yes": "do not ask before migrating backwards",
    "fake-initial": "mark initial migrations applied when their tables already exist (adopting a database)",
    "run-syncdb": "create tables for apps without migrations",
    "fake": "record the migrations as applied/unapplied without running them",
}


def ready(c, **flags):
    """The target, checked, and its introspection."""
    target = target_for(c)
    target.require()
    return target, introspect(c, target.project, target.settings, **flags)


def backup_before(c, target, label):
    manifest = backup_store.take(c, target.project, target.settings, label=label, keep=0)
    if manifest:
        console.print(f"[green]✓[/] backup {manifest['path']} (restore with `{target.cli} restore {manifest['file']}`)")
    return manifest


def status(c, json=False):
    """Per app: migration files, applied, pending, leaf and conflicts."""
    _, info = ready(c, plan=False, changes=False, checks=False)
    tables.show_status(info, json)


def plan(c, json=False):
    """What `migrate` would run, in order, with reversibility."""
    _, info = ready(c, changes=False, checks=False)
    tables.show_plan(info, json)


def sql(c, app, migration, backwards=False):
    """Print the SQL a migration runs (`manage.py sqlmigrate`)."""
    target, info = ready(c, plan=False, changes=False, checks=False)
    name, _ = resolve_target(info, app, migration, target.cli)
    args = ["sqlmigrate", app, name] + (["--backwards"] if backwards else [])
    print(run(c, target.project.manage_command(*args), what="sqlmigrate", changes=False).stdout, end="")  # raw, unwrapped


def history(c, app=None, json=False):
    """Applied migrations with the date each was applied."""
    _, info = ready(c, plan=False, changes=False, checks=False)
    tables.show_history(info, json, app)


def migrate(c, app, target, yes=False, fake_initial=False, run_syncdb=False, fake=False):
    """Migrate an app forwards, or backwards to a target (backs up first and confirms): APP TARGET."""
    side, info = ready(c, plan=False, changes=False, checks=False)
    project = side.project
    name, direction = resolve_target(info, app, None if target == "latest" else target, side.cli)
    extra = []
    if fake_initial:
        console.print("--fake-initial: initial migrations whose tables already exist are marked applied, not run.")
        extra.append("--fake-initial")
    if run_syncdb:
        console.print("--run-syncdb: tables of apps without migrations are created from their models.")
        extra.append("--run-syncdb")
    if fake:
        console.print("--fake: the migrations are recorded as (un)applied without touching the schema.")
        extra.append("--fake")
    if direction == "none":
        console.print(f"{app} is already at {name}; nothing to do.")
        return
    if direction == "backwards":
        names = guard_backwards(info, app, name)
        console.print(f"Migrating {app} backwards to {name} unapplies {len(names)} migration(s): {', '.join(names)}")
        console.print("Their schema changes are undone and data in dropped columns/tables is lost; a backup is taken first.")
        if side.cli == "fab":
            console.print("[yellow]WARN[/] the live release's code has these migrations: it runs against a schema "
                          "without them until a release without them is live (`fab rollback` takes code and schema "
                          "back together)", highlight=False)
        confirm(f"Unapply {len(names)} migration(s)?", yes, is_dry(c))
        backup_before(c, side, "pre-migrate")
    console.print(steps.migrate(c, project, *[a for a in (app, name) if a], *extra))


def reset(c, app, yes=False):
    """Rebuild an app's tables: back up, migrate it to zero, migrate it forwards again."""
    target, info = ready(c, plan=False, changes=False, checks=False)
    project = target.project
    resolve_target(info, app, "zero", target.cli)
    names = guard_backwards(info, app, "zero")
    console.print(
        f"reset {app}: back up the database, unapply {len(names)} migration(s) (its tables and their data go),"
        f" then apply all {len(info['apps'][app]['migrations'])} again on empty tables."
    )
    confirm(f"Reset {app} and lose its data (a backup is taken first)?", yes, is_dry(c))
    backup_before(c, target, "pre-reset")
    console.print(f"to zero: {steps.migrate(c, project, app, 'zero')}")
    console.print(f"forwards: {steps.migrate(c, project, app)}")
    reapply_dependents(c, project, target.settings, info, app)


def migrations_collection(cli) -> Collection:
    """The migrations collection of one side; `cli` ("inv" or "fab") is the program named in the help."""
    collection = Collection("migrations")
    collection.add_task(task(help={"json": "print as JSON"})(reported(status)), default=True)
    collection.add_task(task(help={"json": "print as JSON"})(reported(plan)))
    collection.add_task(task(help={"app": "app label", "migration": "migration name (or a unique prefix)",
                                   "backwards": "SQL to unapply it"})(reported(sql)))
    collection.add_task(task(help={"app": "only this app", "json": "print as JSON"})(reported(history)))
    collection.add_task(task(help={"app": f"app label (`{cli} migrate` migrates all apps)", **MIGRATE_HELP})(reported(migrate)))
    collection.add_task(task(help={"app": "app label", "yes": "do not ask for confirmation"})(reported(reset)))
    return collection


def reapply_dependents(c, project, settings, before, app):
    """Unapplying an app also unapplies other apps' migrations that depend on it (admin on the user
    model's app): migrate those apps back to where they were."""
    if is_dry(c):
        return
    was = state_summary(before)
    now = state_summary(introspect(c, project, settings, plan=False, changes=False, checks=False))
    for other, latest in was.items():
        if other != app and latest != "zero" and now.get(other) != latest:
            console.print(f"{other} (depends on {app}): {steps.migrate(c, project, other, latest)}")
