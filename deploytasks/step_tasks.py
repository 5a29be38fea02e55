"""The step tasks (venv, install, migrate, createsuperuser, collectstatic): plain functions over the target
(`target_for(c)`: the local project under `inv`, the live release under `fab`), made tasks for each side."""
from dataclasses import replace

from invoke import task

from . import steps
from .errors import reported
from .output import console
from .shell import is_dry
from .target import target_for

SUPERUSER_HELP = {
    "username": "superuser name (or DJANGO_SUPERUSER_USERNAME)",
    "email": "email (or DJANGO_SUPERUSER_EMAIL)",
    "password": "password (prefer DJANGO_SUPERUSER_PASSWORD: options show in the process list; "
                "it reaches Django on stdin, never argv)",
}


def venv(c, python=None):
    """Create the virtualenv of {where} unless it exists."""
    target = target_for(c)
    project = replace(target.project, base_python=python) if python else target.project
    console.print(steps.venv(c, project, asked=bool(python)))


def install(c, force=False):
    """Install the requirements into the venv of {where} (uv, else pip); skipped when they have not changed."""
    target = target_for(c)
    console.print(steps.install(c, target.project, force=force, cli=target.cli))


def migrate(c):
    """Apply all pending migrations in {where} (`manage.py migrate`)."""
    target = target_for(c)
    target.require()
    if target.cli == "fab" and not is_dry(c):  # the live site: under the deploy lock, backed up first, logged
        from .live_migrate import migrate_live

        console.print(migrate_live(c, target.settings, target.project))
        return
    console.print(steps.migrate(c, target.project, database=target.settings.database))


def createsuperuser(c, username=None, email=None, password=None):
    """Create a superuser in {where} unless it exists; prompts on a TTY, skips with a hint without one."""
    target = target_for(c)
    target.require()
    console.print(steps.createsuperuser(c, target.project, username, email, password))


def collectstatic(c):
    """Collect static files in {where} into STATIC_ROOT."""
    target = target_for(c)
    target.require()
    console.print(steps.collectstatic(c, target.project))


def side_task(function, where, **options):
    """`function` as a task of one side, its docstring naming the side's place ("the project", "the live release")."""
    body = reported(function)
    body.__doc__ = function.__doc__.format(where=where)
    return task(**options)(body)


def step_tasks(where) -> list:
    """The step tasks of one side; `where` names its place in the help texts."""
    return [
        side_task(venv, where, help={"python": "interpreter to create the venv with (default: deploytasks.python)"}),
        side_task(install, where, help={"force": "install even if the requirements are unchanged since the last install"}),
        side_task(migrate, where, name="migrate"),
        side_task(createsuperuser, where, help=SUPERUSER_HELP),
        side_task(collectstatic, where),
    ]
