"""The shared steps: each takes a context (local Context or Fabric Connection) and a Project."""
import getpass
import os
import posixpath
import re
import sys
from types import SimpleNamespace

from .django import introspect, run_django_script
from .errors import ConnectionLost, DeployTasksError
from .migrate_output import failed_migration, failure as migrate_failure
from .installer import STAMP, failure_summary, install_command, local_uv, pip_command, uv_index_env, venv_command
from .output import console
from .shell import connection_lost, failure, is_dry, q, run, run_script, summary
from .step_result import StepResult, done, dry, kept, skipped


VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"


def venv(c, project, seed=True, asked=False) -> StepResult:
    """Create the project's virtualenv unless it is there already (seed=False: a uv-built one without pip yet,
    which add_pip adds). asked: the interpreter was named (--python): a venv of another Python version is refused."""
    if not project.venv:
        return skipped("skipped (use_venv is off)")
    python = q(project.base_python)
    versions = (f'; echo "$({q(project.python)} -c {q(VERSION)} 2>/dev/null)"; {python} -c {q(VERSION)} 2>&1 | '
                'head -n 1' if asked else "")
    command = (
        f"if [ -x {q(project.python)} ]; then echo present{versions}; "
        f"elif ! command -v {python} >/dev/null 2>&1; then echo missing-python; "
        f"else echo create; fi"
    )
    state, *seen = run(c, command, what="looking for the virtualenv", changes=False).stdout.strip().split("\n")
    if state == "present":
        has, wanted = ([line.strip() for line in seen] + ["", ""])[:2]
        if asked and not re.fullmatch(r"\d+\.\d+", wanted):  # a version manager's shim of a Python not enabled
            raise DeployTasksError(f"Python {project.base_python!r} does not run here ({wanted or 'no output'}): set "
                                   "deploytasks.python (or pass --python) to an installed interpreter")
        if asked and has and has != wanted:
            raise DeployTasksError(f"{project.venv} is Python {has}, not {project.base_python}'s {wanted}: remove it "
                                   f"(`rm -rf {q(project.venv)}`) and run this again to build it with "
                                   f"{project.base_python}")
        return kept("present, kept")
    if state == "missing-python":
        raise DeployTasksError(
            f"Python {project.base_python!r} not found: set deploytasks.python (or pass --python) to an installed interpreter"
        )
    uv = local_uv(project.installer)
    builder = "uv" if uv else "python -m venv"
    build_with(c, venv_command(project.base_python, project.venv, uv, seed), uv,
               what=f"creating the virtualenv with {project.base_python} ({builder})")
    note = " (no uv found: pip install uv for faster installs)" if not uv and project.installer == "auto" else ""
    if is_dry(c):
        return dry(f"would create {project.venv} with {builder}{note}")
    return done(f"created {project.venv} with {builder}{note}")


def add_pip(c, project) -> StepResult:
    """Put pip into the project's uv-built venv unless it has it (users keep pip in their venv)."""
    uv = local_uv(project.installer)
    state = build_with(c, pip_command(uv, project.venv), uv, what="adding pip to the virtualenv").stdout.strip()
    return kept("present, kept") if state == "present" else done(f"added to {project.venv}")


def build_with(c, command, uv, *, what):
    """Run a venv-building command; uv gets pip's index settings and its error names the failed fetch."""
    try:
        result = run(c, command, what=what, check=False, env=uv_index_env(os.environ) if uv else None)
    except KeyboardInterrupt:  # Ctrl-C reached this process outside the command's wait (the command got it too)
        raise DeployTasksError(f"interrupted (Ctrl-C) during {what}") from None
    if result.failed:
        raise DeployTasksError(failure(result, what, failure_summary(result.stderr)))
    return result


def requirements_hash(c, project) -> dict:
    """Hash of the requirements (+ includes, + the version of the venv's Python, else the base Python's) and the
    venv's install stamp."""
    params = {
        "requirements": project.path(project.requirements),
        "stamp": posixpath.join(project.venv, STAMP) if project.venv else "",
        "venv_python": project.python if project.venv else "",
        "setting": project.requirements_setting,
    }
    return run_script(
        c, project.tool_script_command(), "requirements_hash", params,
        what="reading the requirements", tools=project.tools or None,
    )


def install(c, project, force=False, cli="inv") -> StepResult:
    """Install the requirements (uv, else pip), unless they are unchanged since the last install; `cli` is the
    program the user typed, for the hint."""
    state = requirements_hash(c, project)
    if project.venv and not state["venv_ok"] and not is_dry(c):
        raise DeployTasksError(f"no virtualenv at {project.venv}: run `{cli} venv` first"
                               + (" (or `inv setup`)" if cli == "inv" else ""))
    if not force and state["stamp"] == state["hash"]:
        return kept("requirements unchanged, skipped")
    uv = local_uv(project.installer) if project.venv else ""  # uv installs into a venv, not a bare interpreter
    command = install_command(project.python, project.path(project.requirements), project.venv, state["hash"], uv)
    tool = "uv pip" if uv else "pip"
    with console.status(f"{tool} install -r {project.requirements} …"):
        build_with(c, project.shell(command, env_file=False), uv, what=f"{tool} install")
    if is_dry(c):
        return dry(f"would install {project.requirements} with {tool}")
    return done(f"installed {project.requirements} with {tool}")


def planned_forwards(info) -> list:
    """`app.name` of each migration an introspection's plan applies, in order."""
    return [f"{m['app']}.{m['name']}" for m in info["plan"] if not m["backwards"]]


def would_migrate(c, project, database="default") -> StepResult:
    """What `migrate` would apply, from a read-only introspection (for --dry)."""
    probe = run(c, f"test -x {q(project.python)} && echo yes || echo no", what="looking for the virtualenv",
                changes=False)
    if probe.stdout.strip() != "yes":
        return dry("would apply every migration (no virtualenv yet to ask Django which)")
    settings = SimpleNamespace(database=database, strict_migrations=False, safe_migrations=[])  # what introspect reads
    try:
        info = introspect(c, project, settings, plan=True, changes=False, checks=False)
    except DeployTasksError as exc:
        return dry(f"would apply the pending migrations (Django cannot list them yet: {exc})")
    if "plan" not in info:
        reason = "conflicting migrations" if info.get("conflicts") else info["database"].get("error", "unknown")
        return dry(f"would apply the pending migrations (cannot plan them: {reason})")
    names = planned_forwards(info)
    if not names:
        return dry("no migrations to apply")
    shown = ", ".join(names[:3]) + (f", … ({len(names) - 3} more)" if len(names) > 3 else "")
    return dry(f"would apply {len(names)}: {shown}")


def migrate(c, project, *args, database="default", watchers=(), under_lock="") -> StepResult:
    """Apply migrations (`manage.py migrate --noinput`), reporting how many ran (under --dry: would run).
    under_lock: a held deploy lock the migrate's process marks itself under (as work that outlives its client: the
    lock is not freed while it runs, by the client's abort or by the lock's guard once the client is gone)."""
    if is_dry(c) and not args:
        return would_migrate(c, project, database)
    command = project.manage_command("migrate", "--noinput", *args)
    if under_lock:  # the shell's own pid ($$): it lives while migrate runs, whether or not it execs it
        command = f"{{ : > {q(posixpath.join(under_lock, 'load-'))}$$; }} 2>/dev/null; {command}"
    result = run(c, command, what="migrate", check=False, watchers=watchers)
    if connection_lost(result):  # no exit status: what was applied is not known here
        raise ConnectionLost("the connection to the server was lost (closed or dropped) during migrate")
    if result.failed:
        raise DeployTasksError(migrate_failure(result.stdout, summary(result), failed_vendor(c, project, database,
                                                                                              result.stdout)))
    applied = len(re.findall(r"^\s+Applying .+\.\.\. OK", result.stdout, re.M))
    unapplied = len(re.findall(r"^\s+Unapplying .+\.\.\. OK", result.stdout, re.M))
    if is_dry(c):
        return dry("dry run")
    if unapplied:
        return done(f"{unapplied} unapplied")
    return done(f"{applied} applied") if applied else kept("no migrations to apply")


def failed_vendor(c, project, database, stdout):
    """The database's vendor when migrate failed in a migration (what became of it depends on it), else None; None
    too when it cannot be asked."""
    if failed_migration(stdout) is None:
        return None
    try:
        return run_django_script(c, project, "database_vendor", {"database": database}, what="asking the database's "
                                 "engine", changes=False, settings_only=True).get("vendor")
    except DeployTasksError:
        return None


def collectstatic(c, project) -> StepResult:
    """Collect static files (`manage.py collectstatic --noinput`)."""
    if is_dry(c):
        return dry("would collect static files into STATIC_ROOT")
    result = run(c, project.manage_command("collectstatic", "--noinput"), what="collectstatic")
    lines = [line for line in result.stdout.splitlines() if "static file" in line]
    return done(lines[-1].strip().rstrip(".") if lines else "done")


def superuser_credentials(username=None, email=None, password=None):
    """Options first, then DJANGO_SUPERUSER_* env vars (a password alone: user `admin`), then a prompt on a TTY; None
    when none can be had."""
    password = password or os.environ.get("DJANGO_SUPERUSER_PASSWORD")
    username = username or os.environ.get("DJANGO_SUPERUSER_USERNAME") or ("admin" if password else None)
    email = email or os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
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


def createsuperuser(c, project, username=None, email=None, password=None) -> StepResult:
    """Create a superuser unless one with that username exists; never hangs without a TTY."""
    if is_dry(c):  # the look-up would open, and so create, an SQLite database
        return dry("dry run: would create a superuser unless one exists")
    existing = run_django_script(c, project, "superuser", {"username": username}, what="looking for superusers")
    if existing is not None and existing.get("exists"):
        return kept(f"{username} exists, kept")
    credentials = superuser_credentials(username, email, password)
    if credentials is None:
        if existing and existing["superusers"]:
            return kept(f"{existing['superusers']} superuser(s) exist, kept")
        return skipped("skipped: no credentials (pass --username/--password or set "
                        "DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD)")
    username, email, password = credentials
    params = {"username": username, "email": email, "password": password, "create": True}
    result = run_django_script(
        c, project, "superuser", params, what="creating the superuser", changes=True,
        description=f"create superuser {username!r}",
    )
    if result is None:
        return dry(f"would create {username}")
    return done(f"created {username}") if result.get("created") else kept(f"{username} exists, kept")
