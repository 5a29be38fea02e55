"""`inv setup`: the local project's steps in order (venv, install, migrate, createsuperuser, collectstatic), each
skipped when done, with their hooks, timed and shown as one table."""
from . import flows, hooks, steps, tables
from .output import show


def setup(c, settings, project, *, superuser, username, email, password):
    """Run the setup steps (createsuperuser only with `superuser`, collectstatic when deploytasks.collectstatic)."""
    plan = [
        ("venv", lambda: steps.venv(c, project)),
        ("install", lambda: steps.install(c, project)),
        ("migrate", lambda: steps.migrate(c, project, database=settings.database)),
    ]
    if superuser:
        plan.append(("createsuperuser", lambda: steps.createsuperuser(c, project, username, email, password)))
    if settings.collectstatic:
        plan.append(("collectstatic", lambda: steps.collectstatic(c, project)))
    rows = flows.timed_steps(hooks.around(c, project, settings.hooks, plan))
    show(tables.steps_table(f"Setup of {project.root}", rows))
