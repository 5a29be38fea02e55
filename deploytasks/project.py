"""Where a Django project lives on one side (laptop or server) and how to run things in it."""
import os
import posixpath
from dataclasses import dataclass

from .bundle import BOOTSTRAP
from .shell import q, join

# manage.py run for what it sets up (DJANGO_SETTINGS_MODULE, a .env loader, sys.path) but with no command:
# settings and database connections work, the app registry is not loaded (a third of a start-up). manage.py gets a
# stand-in for django.core.management whose execute_from_command_line does nothing: importing the real one (URL
# resolvers, HTTP responses, serializers: about 40 ms) would delay the backup's pg_dump and the restore's safety
# dump. Any other name manage.py takes from it (call_command, ...) loads the real module; its submodules import
# as usual (the stand-in has the package's path), and the real package is loaded after them.
SETTINGS_PREAMBLE = (
    "import importlib, importlib.util, runpy, sys, types, django.core\n"
    "_name = 'django.core.management'\n"
    "_stub = types.ModuleType(_name)\n"
    "_stub.__path__ = list(importlib.util.find_spec(_name).submodule_search_locations)\n"
    "_stub.execute_from_command_line = lambda argv=None: None\n"
    "def _real(attribute):\n"
    "    if sys.modules.get(_name) is _stub:\n"
    "        del sys.modules[_name]\n"
    "    module = importlib.import_module(_name)\n"
    "    module.execute_from_command_line = _stub.execute_from_command_line\n"
    "    return getattr(module, attribute)\n"
    "_stub.__getattr__ = _real\n"
    "sys.modules[_name] = django.core.management = _stub\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
    "if sys.modules.get(_name) is _stub:\n"
    "    del sys.modules[_name], django.core.management\n"
    "    _children = {k.rpartition('.')[2]: m for k, m in list(sys.modules.items()) if k.rpartition('.')[0] == _name}\n"
    "    if _children:  # manage.py imported its submodules: the real package holds them from now on\n"
    "        _package = importlib.import_module(_name)\n"
    "        for _child, _module in _children.items():\n"
    "            setattr(_package, _child, _module)\n"
)
SETTINGS_ONLY = SETTINGS_PREAMBLE + BOOTSTRAP


@dataclass
class Project:
    root: str  # absolute directory holding manage.py
    base_python: str  # interpreter that creates the venv (and runs tool scripts)
    venv: str = ""  # absolute venv directory; empty: use base_python as is
    manage: str = "manage.py"
    requirements: str = "requirements.txt"
    env_file: str = ".env"
    backups: str = ""  # where backups go when not deploytasks.backups inside root (servers: {path}/backups)
    installer: str = "pip"  # deploytasks.installer where uv may build the venv (local projects); pip elsewhere
    missing: str = ""  # the error when the venv's python is absent, checked in the same command (no extra round trip)
    tools: str = ""  # on a server: the directory for deploytasks' server code ({path}/.deploytasks); "": local

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
        if not self.missing:
            return command
        return f"if [ ! -x {q(self.python)} ]; then echo {q(self.missing)} >&2; exit 3; fi; {command}"

    def manage_command(self, *args) -> str:
        return self.guarded(self.shell(join(self.python, self.manage, *args)))

    def django_script_command(self) -> str:
        """A manage.py shell that runs the server bundle's request read on stdin."""
        return self.guarded(self.shell(f"{join(self.python, self.manage, 'shell', '-v', '0', '-c', BOOTSTRAP)}"))

    def settings_script_command(self) -> str:
        """A Python with the project's settings (not its apps) that runs the request read on stdin."""
        return self.guarded(self.shell(join(self.python, "-c", SETTINGS_ONLY, self.manage)))

    def python_script_command(self, python=None) -> str:
        return self.shell(f'{q(python or self.python)} "$DEPLOYTASKS_PYZ"', env_file=False)

    def tool_script_command(self) -> str:
        """The bundle run by the venv's Python once the venv exists (a real interpreter: no version manager's shim
        in between), else by the base Python."""
        if not self.venv:
            return self.python_script_command(self.base_python)
        return self.shell(f'py={q(self.python)}; [ -x "$py" ] || py={q(self.base_python)}; "$py" "$DEPLOYTASKS_PYZ"',
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
        requirements=settings.requirements,
        env_file=settings.env_file,
        installer=settings.installer,
    )
