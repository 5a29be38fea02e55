"""A deploy's hooks on the client's side of the flow: around the venv build (over SSH, in the new release, before
the server side takes over), and the list --dry shows. The later steps' hooks run on the server (server/hooks.py)."""
from contextlib import contextmanager

from .hooks import DEPLOY_STEPS, any_around, described, run_local


@contextmanager
def around_build(c, settings, project):
    """Hooks before venv and install, the build (one step on servers: venv and requirements), hooks after them."""
    for step in ("venv", "install"):
        run_local(c, project, settings.hooks, "before", step)
    yield
    for step in ("venv", "install"):
        run_local(c, project, settings.hooks, "after", step)


def around_build_listed(settings) -> bool:
    """Whether a hook runs before or after the venv or install step (the build then is a round trip of its own)."""
    return any_around(settings.hooks, ("venv", "install"))


def dry(settings) -> str:
    """'; hooks: after install: …, before switch: …' for the dry-run line ('' without hooks)."""
    lines = described(settings.hooks, DEPLOY_STEPS)
    return "; hooks: " + ", ".join(lines) if lines else ""
