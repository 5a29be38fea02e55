"""Invoke tasks for the developer's machine: `from deploytasks.local import ns` in tasks.py."""
import functools
import os
import re
import textwrap

from invoke import Collection, task
from invoke.parser import ParserContext

from . import backups as backup_store
from . import flows, steps
from .django import introspect, resolve_target
from .errors import DeployTasksError, reported
from .output import console, print_json, show, table
from .project import local_project
from .prompt import confirm
from .settings import DEFAULTS, load
from .shell import is_dry, run


def _project(c, python=None):
    settings = load(c)
    if python:
        settings.python = python
    project = local_project(settings)
    if not os.path.isdir(project.root):
        raise DeployTasksError(f"project directory {project.root} does not exist: set deploytasks.project")
    if not os.path.isfile(project.path(project.manage)):
        raise DeployTasksError(
            f"no {project.manage} in {project.root}: set deploytasks.project to the directory holding manage.py"
        )
    return settings, project


def _require_venv(project):
    if project.venv and not os.path.exists(project.python):
        raise DeployTasksError(f"no virtualenv at {project.venv}: run `inv setup` (or `inv venv install`) first")


@task(help={
    "python": "interpreter that creates the venv (default: deploytasks.python)",
    "no-superuser": "do not create a superuser",
    "username": "superuser name (or DJANGO_SUPERUSER_USERNAME)",
    "email": "superuser email (or DJANGO_SUPERUSER_EMAIL)",
    "password": "superuser password (prefer DJANGO_SUPERUSER_PASSWORD: options show in the process list)",
})
@reported
def setup(c, python=None, no_superuser=False, username=None, email=None, password=None):
    """Set the project up: venv, install, migrate, createsuperuser, collectstatic (skips what is done)."""
    settings, project = _project(c, python)
    plan = [
        ("venv", lambda: steps.venv(c, project)),
        ("install", lambda: steps.install(c, project)),
        ("migrate", lambda: steps.migrate(c, project)),
    ]
    if not no_superuser:
        plan.append(("createsuperuser", lambda: _createsuperuser(c, project, username, email, password)))
    if settings.collectstatic:
        plan.append(("collectstatic", lambda: steps.collectstatic(c, project)))
    rows = flows.timed_steps(plan)
    show(table(f"Setup of {project.root}", ["step", "result", "time"], rows))


@task(help={"python": "interpreter to create the venv with (default: deploytasks.python)"})
@reported
def venv(c, python=None):
    """Create the project's virtualenv (deploytasks.venv) unless it exists."""
    _, project = _project(c, python)
    console.print(steps.venv(c, project))


@task(help={"force": "install even if the requirements are unchanged since the last install"})
@reported
def install(c, force=False):
    """pip install the requirements into the venv; skipped when they have not changed."""
    _, project = _project(c)
    console.print(steps.install(c, project, force=force))


@task(name="migrate")
@reported
def migrate_all(c):
    """Apply all pending migrations (`manage.py migrate`)."""
    _, project = _project(c)
    _require_venv(project)
    console.print(steps.migrate(c, project))


@task(help={
    "username": "superuser name (or DJANGO_SUPERUSER_USERNAME)",
    "email": "email (or DJANGO_SUPERUSER_EMAIL)",
    "password": "password (prefer DJANGO_SUPERUSER_PASSWORD: options show in the process list)",
})
@reported
def createsuperuser(c, username=None, email=None, password=None):
    """Create a superuser unless it exists; prompts on a TTY, skips with a hint without one."""
    _, project = _project(c)
    _require_venv(project)
    console.print(_createsuperuser(c, project, username, email, password))


def _createsuperuser(c, project, username, email, password):
    """steps.createsuperuser, but not under --dry: its look-up opens (and so creates) an SQLite database."""
    if is_dry(c):
        return "dry run: would create a superuser unless one exists"
    return steps.createsuperuser(c, project, username, email, password)


@task
@reported
def collectstatic(c):
    """Collect static files into STATIC_ROOT."""
    _, project = _project(c)
    _require_venv(project)
    console.print(steps.collectstatic(c, project))


@task(help={"json": "print the verdicts as JSON"})
@reported
def check(c, json=False):
    """Pre-deployment checklist: migrations, model changes, system checks, plan, conflicts."""
    settings, project = _project(c)
    _require_venv(project)
    info = introspect(c, project, settings)
    flows.show_checklist(info, json, f"Pre-deployment checklist ({project.root})")


@task(help={
    "keep": "keep this many newest backups (default: deploytasks.keep_backups; 0 keeps all)",
    "label": "a word added to the file name, e.g. before-upgrade",
    "json": "print the manifest as JSON",
})
@reported
def backup(c, keep=None, label=None, json=False):
    """Back up the database (SQLite online backup API), verify it and write its manifest."""
    settings, project = _project(c)
    _require_venv(project)
    if keep is not None and not re.fullmatch(r"\d+", keep):
        raise DeployTasksError(f"--keep must be a whole number (0 keeps all), not {keep!r}")
    if label is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", label):
        raise DeployTasksError(f"--label must be letters, digits, '.', '_' or '-', not {label!r}")
    manifest = backup_store.take(c, project, settings, keep=None if keep is None else int(keep), label=label)
    if manifest is None:
        return
    if json:
        print_json(manifest)
        return
    console.print(
        f"[green]✓[/] backup {manifest['path']}\n"
        f"  {manifest['size']:,} bytes, sha256 {manifest['sha256'][:16]}…, integrity_check ok, "
        f"{manifest['seconds']}s"
    )
    if manifest["pruned"]:
        console.print(f"  removed {len(manifest['pruned'])} old backup(s): {', '.join(manifest['pruned'])}")


def backups_table(title, rows):
    return table(title, ["file", "created (UTC)", "engine", "size", "sha256", "migrations"], [
        (
            os.path.basename(r["path"]) + ("" if r.get("present", True) else " [red](missing)[/]"),
            r.get("created", "?").replace("T", " ").rstrip("Z"),
            r.get("engine", "?"),
            f"{r.get('size', 0):,}",
            r.get("sha256", "")[:12],
            ", ".join(f"{app} {names[-1][:4]}" for app, names in sorted(r.get("migrations", {}).items()) if names and app not in ("admin", "auth", "contenttypes", "sessions")) or "-",
        )
        for r in rows
    ])


@task(name="backups", help={"json": "print the list as JSON", "verify": "re-check every file's sha256"})
@reported
def list_backups(c, json=False, verify=False):
    """List the backups in deploytasks.backups, newest first."""
    settings, project = _project(c)
    directory = backup_store.backup_dir(project, settings)
    rows = backup_store.listing(c, project, directory, verify=verify)
    if json:
        print_json({"dir": directory, "backups": rows})
    elif not rows:
        console.print(f"No backups in {directory}.")
    else:
        show(backups_table(f"Backups in {directory}", rows))


@task(help={
    "file": "the backup: a path, or a file name in deploytasks.backups",
    "yes": "do not ask for confirmation",
    "unverified": "allow a file that has no manifest (no checksum to verify)",
})
@reported
def restore(c, file, yes=False, unverified=False):
    """Restore a backup: verify it, take a safety backup, confirm, replace the database atomically."""
    settings, project = _project(c)
    _require_venv(project)
    path = os.path.abspath(file) if os.path.exists(file) else backup_store.resolve_path(project, settings, file)
    flows.verify_then_restore(c, project, settings, path, yes=yes, unverified=unverified,
                              what_is_replaced=f"the {settings.database!r} database")


# -- migrations.* --------------------------------------------------------------------------------

@task(help={"json": "print as JSON"})
@reported
def status(c, json=False):
    """Per app: migration files, applied, pending, leaf and conflicts."""
    settings, project = _project(c)
    _require_venv(project)
    flows.show_status(introspect(c, project, settings, plan=False, changes=False, checks=False), json)


@task(help={"json": "print as JSON"})
@reported
def plan(c, json=False):
    """What `migrate` would run, in order, with reversibility."""
    settings, project = _project(c)
    _require_venv(project)
    flows.show_plan(introspect(c, project, settings, changes=False, checks=False), json)


@task(help={"app": "app label", "migration": "migration name (or a unique prefix)", "backwards": "SQL to unapply it"})
@reported
def sql(c, app, migration, backwards=False):
    """Print the SQL a migration runs (`manage.py sqlmigrate`)."""
    settings, project = _project(c)
    _require_venv(project)
    info = introspect(c, project, settings, plan=False, changes=False, checks=False)
    name, _ = resolve_target(info, app, migration)
    args = ["sqlmigrate", app, name] + (["--backwards"] if backwards else [])
    console.print(run(c, project.manage_command(*args), what="sqlmigrate", changes=False).stdout, end="")


@task(help={"app": "only this app", "json": "print as JSON"})
@reported
def history(c, app=None, json=False):
    """Applied migrations with the date each was applied."""
    settings, project = _project(c)
    _require_venv(project)
    flows.show_history(introspect(c, project, settings, plan=False, changes=False, checks=False), json, app)


@task(name="migrate", help={
    "app": "app label (`inv migrate` migrates all apps)",
    "target": "migration name or prefix, 'zero', or 'latest'; earlier than the applied state migrates backwards",
    "yes": "do not ask before migrating backwards",
    "fake-initial": "mark initial migrations applied when their tables already exist (adopting a database)",
    "run-syncdb": "create tables for apps without migrations",
    "fake": "record the migrations as applied/unapplied without running them",
})
@reported
def migrations_migrate(c, app, target, yes=False, fake_initial=False, run_syncdb=False, fake=False):
    """Migrate an app forwards, or backwards to a target (backs up first and confirms): APP TARGET."""
    settings, project = _project(c)
    _require_venv(project)
    info = introspect(c, project, settings, plan=False, changes=False, checks=False)
    name, direction = resolve_target(info, app, None if target == "latest" else target)
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
    args = [a for a in (app, name) if a]
    if direction == "none":
        console.print(f"{app} is already at {name}; nothing to do.")
        return
    if direction == "backwards":
        names = flows.guard_backwards(info, app, name)
        console.print(f"Migrating {app} backwards to {name} unapplies {len(names)} migration(s): {', '.join(names)}")
        console.print("Their schema changes are undone and data in dropped columns/tables is lost; a backup is taken first.")
        confirm(f"Unapply {len(names)} {app} migration(s)?", yes, is_dry(c))
        _backup_before(c, project, settings, "pre-migrate")
    console.print(steps.migrate(c, project, *args, *extra))


def _backup_before(c, project, settings, label):
    manifest = backup_store.take(c, project, settings, label=label, keep=0)
    if manifest:
        console.print(f"[green]✓[/] backup {manifest['path']} (restore with `inv restore {manifest['file']}`)")
    return manifest


@task(help={"app": "app label", "yes": "do not ask for confirmation"})
@reported
def reset(c, app, yes=False):
    """Rebuild an app's tables: back up, migrate it to zero, migrate it forwards again."""
    settings, project = _project(c)
    _require_venv(project)
    info = introspect(c, project, settings, plan=False, changes=False, checks=False)
    resolve_target(info, app, "zero")
    names = flows.guard_backwards(info, app, "zero")
    console.print(
        f"reset {app}: back up the database, unapply {len(names)} migration(s) (its tables and their data go),"
        f" then apply all {len(info['apps'][app]['migrations'])} again on empty tables."
    )
    confirm(f"Reset {app} and lose its data (a backup is taken first)?", yes, is_dry(c))
    _backup_before(c, project, settings, "pre-reset")
    console.print(f"to zero: {steps.migrate(c, project, app, 'zero')}")
    console.print(f"forwards: {steps.migrate(c, project, app)}")
    _reapply_dependents(c, project, settings, info, app)


def _reapply_dependents(c, project, settings, before, app):
    """Unapplying an app also unapplies other apps' migrations that depend on it (admin on the user
    model's app): migrate those apps back to where they were."""
    if is_dry(c):
        return
    was = flows.state_summary(before)
    now = flows.state_summary(introspect(c, project, settings, plan=False, changes=False, checks=False))
    for other, latest in was.items():
        if other != app and latest != "zero" and now.get(other) != latest:
            console.print(f"{other} (depends on {app}): {steps.migrate(c, project, other, latest)}")


migrations = Collection("migrations")
migrations.add_task(status, default=True)
migrations.add_task(plan)
migrations.add_task(sql)
migrations.add_task(history)
migrations.add_task(migrations_migrate, name="migrate")
migrations.add_task(reset)



def _print_task_help(name, task_obj):
    """Invoke's per-task help, for `inv TASK --help` when the parser gave --help to a positional argument."""
    print(f"Usage: inv[oke] [--core-opts] {name} [--options] [other tasks here ...]\n")
    print("Docstring:\n  " + (task_obj.__doc__ or "none").strip() + "\n")
    print("Options:")
    tuples = ParserContext(name=name, args=task_obj.get_arguments()).help_tuples()
    width = max(len(flag) for flag, _ in tuples)
    for flag, text in tuples:
        lines = textwrap.wrap(text or "", width=max(30, 76 - width)) or [""]
        print(f"  {flag:<{width}}   {lines[0]}".rstrip())
        for line in lines[1:]:
            print(" " * (width + 5) + line)
    print()


def _answer_help(name, task_obj):
    """Invoke's parser hands `--help` after a task to the task's first missing positional argument."""
    body = task_obj.body

    @functools.wraps(body)
    def answer_help(c, *args, **kwargs):
        if any(value in ("-h", "--help") for value in (*args, *kwargs.values())):
            return _print_task_help(name, task_obj)
        return body(c, *args, **kwargs)

    task_obj.body = answer_help


ns = Collection()
for _task in (setup, venv, install, migrate_all, createsuperuser, collectstatic, check, backup, list_backups, restore):
    ns.add_task(_task)
ns.add_collection(migrations)
for _name, _task in (("restore", restore), ("migrations.sql", sql), ("migrations.migrate", migrations_migrate),
                     ("migrations.reset", reset)):
    _answer_help(_name, _task)
ns.configure({"deploytasks": dict(DEFAULTS)})
