"""Where a task runs: the project on this machine (`inv`) or the live release on a server (`fab`).

`target_for(c)` gives a Target for either, so a task shared by both sides is written once over it."""
import os
import re
import sys
from dataclasses import dataclass, replace
from typing import Callable

from . import releases
from .errors import DeployTasksError
from .host_names import host_name
from .project import Project, local_project
from .settings import Settings, load
from .shell import q, run


@dataclass(frozen=True)
class Target:
    """Settings and project of one side, the program its users type (`cli`) and a label for messages."""
    settings: Settings
    project: Project
    cli: str
    label: str
    check: Callable[[], None]

    def require(self):
        """Raise (one line) unless the project can run manage.py yet."""
        self.check()


def target_for(c, python=None) -> Target:
    """The server's live release under `fab` (Fabric's config, with or without -H), the local project under `inv`."""
    return server_target(c) if under_fabric(c) else local_target(c, python)


def under_fabric(c) -> bool:
    """True under `fab` (Fabric's config). `inv` never imports Fabric (paramiko and Fabric are a third of its start),
    so when it is not loaded, `c` cannot be Fabric's."""
    fabric = sys.modules.get("fabric")
    return fabric is not None and isinstance(c.config, fabric.Config)


def local_target(c, python=None) -> Target:
    settings, project = local_settings_and_project(c, python)
    return Target(settings, project, cli="inv", label=project.root, check=lambda: require_venv(project))


def server_target(c) -> Target:
    settings, project = live(c)
    # the live project's commands check for its venv themselves: no probe needed before them
    return Target(settings, project, cli="fab", label=f"{host_name(c)}:{settings.path}", check=lambda: None)


def local_settings_and_project(c, python=None):
    """Settings and the local project, which must hold manage.py."""
    settings = load(c)
    if python:
        settings = replace(settings, python=python)
    project = local_project(settings)
    if not os.path.isdir(project.root):
        raise DeployTasksError(f"project directory {project.root} does not exist: set deploytasks.project")
    if not os.path.isfile(project.path(project.manage)):
        raise DeployTasksError(
            f"no {project.manage} in {project.root}: set deploytasks.project to the directory holding manage.py"
        )
    warn_production_settings(project)
    return settings, project


PRODUCTION_MODULE = re.compile(r"\.(production|prod)$")
_warned = []


def warn_production_settings(project):
    """Once per run: a WARN when the local tasks would run with a production settings module (cookiecutter-django's
    merge_production_dotenvs_in_dotenv.py writes production's values into the project's .env)."""
    module, source = local_settings_module(project)
    if _warned or not module or not PRODUCTION_MODULE.search(module):
        return
    _warned.append(module)
    sys.stderr.write(f"WARN DJANGO_SETTINGS_MODULE={module} ({source}): `inv` works on the database and files that "
                     "production's settings name; this machine's settings module belongs there (production's values "
                     "live in deploy/<host>/.env, for `fab`)\n")  # stderr: a task's --json stays whole


def local_settings_module(project):
    """(DJANGO_SETTINGS_MODULE the project's commands get, where it comes from): the env file's (sourced last),
    else this process's environment; (None, None) when neither sets it."""
    path = project.path(project.env_file) if project.env_file else ""
    try:
        with open(path) as handle:
            found = re.findall(r"^\s*(?:export\s+)?DJANGO_SETTINGS_MODULE\s*=\s*['\"]?([\w.]+)", handle.read(), re.M)
        if found:
            return found[-1], project.env_file  # sourced: the last one counts
    except (OSError, UnicodeDecodeError):
        pass
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return os.environ["DJANGO_SETTINGS_MODULE"], "the environment"
    return None, None


def require_venv(project):
    if project.venv and not os.path.exists(project.python):
        raise DeployTasksError(f"no virtualenv at {project.venv}: run `inv setup` (or `inv venv install`) first")


def server(c, open_now=True, kind="server"):
    """Settings with a deploy path (and a repo for `kind` "deploy"), on a verified connection (opened now, or on
    first use)."""
    from fabric import Connection

    from .connection import connect, secure

    if not isinstance(c, Connection):  # `fab TASK` without -H: Fabric passes a plain Context
        raise DeployTasksError("no host: this task runs on the hosts after -H (fab -H HOST TASK)")
    settings = load(c, kind)
    if open_now:
        connect(c, settings)
    else:
        secure(c, settings)
    return settings


def live(c, open_now=True, kind="server"):
    """Settings, and the live release as a Project, on a verified connection."""
    settings = server(c, open_now, kind)
    return settings, releases.live_project(settings)


def has_live_release(c, project) -> bool:
    probe = run(c, f"test -x {q(project.python)} && echo yes || echo no", what="looking for the live release",
                changes=False)
    return probe.stdout.strip() == "yes"


def require_live(c, project):
    """Raise unless the live release has a venv and the shared files it links to (one round trip: for tasks that
    must know before acting)."""
    probe = run(c, project.guarded("echo ok"), what="looking for the live release", changes=False, check=False)
    if probe.stdout.strip() != "ok":
        said = [line.strip() for line in (probe.stderr or "").splitlines() if line.strip()]
        raise DeployTasksError(said[-1] if said else project.missing)
