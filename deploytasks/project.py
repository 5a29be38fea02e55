"""Where a Django project lives on one side (laptop or server) and how to run things in it."""
import os
import posixpath
from dataclasses import dataclass

from .bundle import BOOTSTRAP, SETTINGS_BOOTSTRAP
from .server.runner import NO_SITE
from .shell import q, join

DJANGO_SCRIPT_ARGS = ("shell", "-v", "0", "-c", BOOTSTRAP)  # manage.py's: the bundle's runner in a Django shell


@dataclass
class Project:
    root: str  # absolute directory holding manage.py
    base_python: str  # interpreter that creates the venv (and runs tool scripts)
    venv: str = ""  # absolute venv directory; empty: use base_python as is
    manage: str = "manage.py"
    requirements: str = "requirements.txt"
    requirements_setting: str = "requirements"  # the setting that names it (errors say which one to fix)
    env_file: str = ".env"
    backups: str = ""  # where backups go when not deploytasks.backups inside root (servers: {path}/backups)
    installer: str = "pip"  # deploytasks.installer where uv may build the venv (local projects); pip elsewhere
    missing: str = ""  # the error when the venv's python is absent, checked in the same command (no extra round trip)
    tools: str = ""  # on a server: the directory for deploytasks' server code ({path}/.deploytasks); "": local
    shared: tuple = ()  # on a server: (name in the release, file in shared/, its local source) of each linked file

    @property
    def python(self) -> str:
        return posixpath.join(self.venv, "bin", "python") if self.venv else self.base_python

    def path(self, *parts) -> str:
        return posixpath.join(self.root, *parts)

    def shell(self, command: str, env_file=True) -> str:
        """`command` run in the project dir with the project's .env exported, if there is one."""
        prefix = f"cd {q(self.root)}"
        if env_file and self.env_file:
            env_path = self.env_file if self.env_file.startswith("/") else "./" + self.env_file
            prefix += f" && if [ -f {q(env_path)} ]; then set -a && . {q(env_path)} && set +a; fi"
        return f"{prefix} && {command}"

    def guarded(self, command: str) -> str:
        """`command` refused in the same round trip when the venv is absent, or when a shared file the release
        links to is (its Django would run on the settings' defaults: another database, DEBUG)."""
        checks = "".join(
            f"if [ -L {q(self.path(name))} ] && [ ! -e {q(self.path(name))} ]; then "
            f"echo {q(self.unshared(name, target, source))} >&2; exit 3; fi; " for name, target, source in self.shared)
        if self.missing:
            checks = f"if [ ! -x {q(self.python)} ]; then echo {q(self.missing)} >&2; exit 3; fi; " + checks
        return checks + command

    def unshared(self, name, target, source) -> str:
        return (f"{target} is missing on the server ({self.path(name)} links to it): put production's copy in "
                f"{source} beside your fabfile and run `fab shared.push`")

    def manage_command(self, *args) -> str:
        return self.guarded(self.shell(join(self.python, self.manage, *args)))

    def django_script_command(self) -> str:
        """A manage.py shell that runs the server bundle's request read on stdin."""
        return self.guarded(self.shell(join(self.python, self.manage, *DJANGO_SCRIPT_ARGS)))

    def settings_script_command(self) -> str:
        """A Python with the project's settings (not its apps) that runs the request read on stdin."""
        return self.guarded(self.shell(join(self.python, "-c", SETTINGS_BOOTSTRAP, self.manage)))

    def python_script_command(self, python=None) -> str:
        return self.shell(f'{q(python or self.python)} {NO_SITE} "$DEPLOYTASKS_PYZ"', env_file=False)

    def tool_script_command(self) -> str:
        """The bundle run by the venv's Python once the venv exists (a real interpreter: no version manager's shim
        in between), else by the base Python."""
        if not self.venv:
            return self.python_script_command(self.base_python)
        return self.shell(f'py={q(self.python)}; [ -x "$py" ] || py={q(self.base_python)}; "$py" {NO_SITE} "$DEPLOYTASKS_PYZ"',
                          env_file=False)


def local_project(settings) -> Project:
    from .settings import local_root

    root = local_root(settings)
    venv = ""
    if settings.use_venv:
        venv = os.path.join(root, os.path.expanduser(settings.venv))
    return Project(
        root=root,
        base_python=settings.python,
        venv=venv,
        manage=settings.manage,
        requirements=settings.local_requirements or settings.requirements,
        requirements_setting="local_requirements" if settings.local_requirements else "requirements",
        env_file=settings.env_file,
        installer=settings.installer,
    )
