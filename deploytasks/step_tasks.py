"""The step tasks (venv, install, migrate, createsuperuser, collectstatic), built once for both sides."""
from dataclasses import replace

from invoke import task

from . import steps
from .errors import reported
from .output import console

SUPERUSER_HELP = {
    "username": "superuser name (or DJANGO_SUPERUSER_USERNAME)",
    "email": "email (or DJANGO_SUPERUSER_EMAIL)",
    "password": "password (prefer DJANGO_SUPERUSER_PASSWORD: options show in the process list; "
                "it reaches Django on stdin, never argv)",
}


def step_tasks(resolve, require, where) -> list:
    """resolve(c) -> (settings, project); require(c, project) raises when the project cannot run yet;
    `where` names the place in the help texts ("the project", "the live release")."""

    def venv(c, python=None):
        _, project = resolve(c)
        if python:
            project = replace(project, base_python=python)
        console.print(steps.venv(c, project))

    def install(c, force=False):
        _, project = resolve(c)
        console.print(steps.install(c, project, force=force))

    def migrate(c):
        settings, project = resolve(c)
        require(c, project)
        console.print(steps.migrate(c, project, database=settings.database))

    def createsuperuser(c, username=None, email=None, password=None):
        _, project = resolve(c)
        require(c, project)
        console.print(steps.createsuperuser(c, project, username, email, password))

    def collectstatic(c):
        _, project = resolve(c)
        require(c, project)
        console.print(steps.collectstatic(c, project))

    venv.__doc__ = f"Create the virtualenv of {where} unless it exists."
    install.__doc__ = f"pip install the requirements into the venv of {where}; skipped when they have not changed."
    migrate.__doc__ = f"Apply all pending migrations in {where} (`manage.py migrate`)."
    createsuperuser.__doc__ = (f"Create a superuser in {where} unless it exists; prompts on a TTY, "
                               "skips with a hint without one.")
    collectstatic.__doc__ = f"Collect static files in {where} into STATIC_ROOT."
    return [
        task(help={"python": "interpreter to create the venv with (default: deploytasks.python)"})(reported(venv)),
        task(help={"force": "install even if the requirements are unchanged since the last install"})(reported(install)),
        task(name="migrate")(reported(migrate)),
        task(help=SUPERUSER_HELP)(reported(createsuperuser)),
        task(reported(collectstatic)),
    ]
