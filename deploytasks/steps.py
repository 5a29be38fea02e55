"""The shared steps: each takes a context (local Context or Fabric Connection) and a Project."""
import getpass
import os
import posixpath
import re
import sys

from .django import run_django_script
from .errors import DeployTasksError
from .output import console
from .shell import is_dry, q, run, run_script

STAMP = ".deploytasks-requirements"


def venv(c, project) -> str:
    """Create the project's virtualenv unless it is there already."""
    if not project.venv:
        return "skipped (use_venv is off)"
    python = q(project.base_python)
    command = (
        f"if [ -x {q(project.python)} ]; then echo present; "
        f"elif ! command -v {python} >/dev/null 2>&1; then echo missing-python; "
        f"else echo create; fi"
    )
    state = run(c, command, what="looking for the virtualenv", changes=False).stdout.strip()
    if state == "present":
        return "present, kept"
    if state == "missing-python":
        raise DeployTasksError(
            f"Python {project.base_python!r} not found: set deploytasks.python (or pass --python) to an installed interpreter"
        )
    run(c, f"{python} -m venv {q(project.venv)}", what=f"creating the virtualenv with {project.base_python}")
    return f"would create {project.venv}" if is_dry(c) else f"created {project.venv}"


def requirements_hash(c, project) -> dict:
    """Hash of the requirements (+ includes, + Python version) and the venv's install stamp."""
    params = {
        "requirements": project.path(project.requirements),
        "stamp": posixpath.join(project.venv, STAMP) if project.venv else "",
        "venv_python": project.python if project.venv else "",
    }
    return run_script(
        c, project.python_script_command(project.base_python), "requirements_hash", params,
        what="reading the requirements", tools=project.tools or None,
    )


def pip_install_command(python, requirements, venv="", digest=None) -> str:
    """pip install -r, then (in a venv) the stamp that lets the next install be skipped."""
    command = f"{q(python)} -m pip install --disable-pip-version-check -q -r {q(requirements)}"
    if venv and digest:
        command += f" && printf '%s\\n' {q(digest)} > {q(posixpath.join(venv, STAMP))}"
    return command


def install(c, project, force=False) -> str:
    """pip install the requirements, unless they are unchanged since the last install."""
    state = requirements_hash(c, project)
    if project.venv and not state["venv_ok"] and not is_dry(c):
        raise DeployTasksError(f"no virtualenv at {project.venv}: run the venv task first (or `inv setup`)")
    if not force and state["stamp"] == state["hash"]:
        return "requirements unchanged, skipped"
    command = pip_install_command(project.python, project.path(project.requirements), project.venv, state["hash"])
    with console.status(f"pip install -r {project.requirements} …"):
        run(c, project.shell(command, env_file=False), what="pip install")
    return f"would install {project.requirements}" if is_dry(c) else f"installed {project.requirements}"


def migrate(c, project, *args) -> str:
    """Apply migrations (`manage.py migrate --noinput`), reporting how many ran."""
    result = run(c, project.manage_command("migrate", "--noinput", *args), what="migrate")
    applied = len(re.findall(r"^\s+Applying .+\.\.\. OK", result.stdout, re.M))
    unapplied = len(re.findall(r"^\s+Unapplying .+\.\.\. OK", result.stdout, re.M))
    if is_dry(c):
        return "dry run"
    if unapplied:
        return f"{unapplied} unapplied"
    return f"{applied} applied" if applied else "no migrations to apply"


def collectstatic(c, project) -> str:
    """Collect static files (`manage.py collectstatic --noinput`)."""
    result = run(c, project.manage_command("collectstatic", "--noinput"), what="collectstatic")
    lines = [line for line in result.stdout.splitlines() if "static file" in line]
    return lines[-1].strip().rstrip(".") if lines else "done"


def superuser_credentials(username=None, email=None, password=None):
    """Options first, then DJANGO_SUPERUSER_* env vars, then a prompt on a TTY; None when none can be had."""
    username = username or os.environ.get("DJANGO_SUPERUSER_USERNAME")
    email = email or os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
    password = password or os.environ.get("DJANGO_SUPERUSER_PASSWORD")
    if username and password:
        return username, email, password
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None
    console.print("Create a superuser (Ctrl-C to skip):")
    try:
        username = username or input("  Username: ").strip()
        email = email or input("  Email (optional): ").strip()
        while not password:
            first = getpass.getpass("  Password: ")
            if first and first == getpass.getpass("  Password (again): "):
                password = first
            else:
                console.print("  Passwords were empty or did not match; try again.")
    except (KeyboardInterrupt, EOFError):
        console.print()
        return None
    return (username, email, password) if username else None


def createsuperuser(c, project, username=None, email=None, password=None) -> str:
    """Create a superuser unless one with that username exists; never hangs without a TTY."""
    if is_dry(c):  # the look-up would open, and so create, an SQLite database
        return "dry run: would create a superuser unless one exists"
    existing = run_django_script(c, project, "superuser", {"username": username}, what="looking for superusers")
    if existing is not None and existing.get("exists"):
        return f"{username} exists, kept"
    credentials = superuser_credentials(username, email, password)
    if credentials is None:
        if existing and existing["superusers"]:
            return f"{existing['superusers']} superuser(s) exist, kept"
        return ("skipped: no credentials (pass --username/--password or set "
                "DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD)")
    username, email, password = credentials
    params = {"username": username, "email": email, "password": password, "create": True}
    result = run_django_script(
        c, project, "superuser", params, what="creating the superuser", changes=True,
        description=f"create superuser {username!r}",
    )
    if result is None:
        return f"would create {username}"
    return f"created {username}" if result.get("created") else f"{username} exists, kept"
