"""`fab setup`: the server's layout (releases/, shared/, backups/ private), its tools checked (git, tar, python3
with venv), uv installed, the server code shipped, and production's shared files uploaded: one round trip for
all but the uploads (one each)."""
import posixpath

from . import bundle, installer, shared
from .errors import DeployTasksError
from .host_names import host_name
from .output import console
from .shell import is_dry, q, run

READY = "@@DEPLOYTASKS-SETUP-READY@@"
HAS_BUNDLE = "@@DEPLOYTASKS-SETUP-HAS-BUNDLE@@"
UV_DONE = "@@DEPLOYTASKS-SETUP-UV-DONE@@"


def prepare(c, settings):
    """Check the tools and create the layout; then, unless something is missing, find or install uv, read the
    server's shared files and see whether the server code is there, in the same command; then ship and upload."""
    path = settings.path
    files = shared.shared_files(c, settings, path)  # a refused source stops here, before anything changes
    if is_dry(c):
        return dry_prepare(c, settings, files)
    tools = posixpath.join(path, ".deploytasks")
    uv = settings.installer != "pip"
    command = (
        f'problems=$({probe(settings)}); if [ -n "$problems" ]; then echo "$problems"; exit 0; fi; echo {READY}; '
        f"mkdir -p {q(tools)} && chmod 700 {q(tools)} || exit 1; {bundle.resolved_links(tools)}; "
        f"if [ -e {q(posixpath.join(tools, bundle.current().name))} ]; then echo {HAS_BUNDLE}; fi; "
        + (f"{{ {installer.server_uv_command(settings, path)}; }} || exit 1; echo {UV_DONE}; " if uv else "")
        + (shared.state_command(files) if files else ":")
    )
    out = run(c, command, what="setting up the server").stdout
    problems, ready, rest = out.partition(READY)
    refuse(c, settings, problems.split())
    if not ready:
        raise DeployTasksError(f"setting up the server failed: unexpected answer {problems.strip()[:200]!r}")
    if HAS_BUNDLE not in rest:
        bundle.put(c, tools)
    if uv:
        printed, _, rest = rest.partition(UV_DONE)
        installer.report_server_uv(c, settings, path, printed)
    else:
        installer.setup_server_uv(c, settings, path)  # says that pip builds
    finish(c, path, shared.upload_missing(c, files, shared.parse_state(rest, files)))


def probe(settings) -> str:
    """Shell printing what is missing (missing:git …) or `unwritable`; it creates the layout."""
    path = settings.path
    return (f"{missing_tools(settings)}{{ {make_layout(path)}; }} 2>/dev/null || echo unwritable; "
            f"test -w {q(path)} || echo unwritable")


def missing_tools(settings) -> str:
    python = q(settings.python)
    return (f"for p in git tar; do command -v $p >/dev/null 2>&1 || echo missing:$p; done; "
            f"command -v {python} >/dev/null 2>&1 || echo missing:{python}; "
            f"{python} -c 'import venv, ensurepip' 2>/dev/null || echo missing:{python}-venv; ")


def make_layout(path) -> str:
    backups = q(path + '/backups')  # dumps hold password hashes: only the deploy user may read them
    return (f"mkdir -p {q(path + '/releases')} {q(path + '/shared')} && mkdir -p -m 700 {backups} "
            f"&& chmod 700 {backups}")


def refuse(c, settings, problems):
    """One error naming what stops the setup, if anything."""
    if "unwritable" in problems and c.user == "root":
        raise DeployTasksError(f"cannot create or write {settings.path} as root: a part of it is not a directory, "
                               "or its file system is read-only")
    if "unwritable" in problems:
        raise DeployTasksError(f"cannot create or write {settings.path} as {c.user}: create it and give {c.user} "
                               f"ownership, as root on the server: mkdir -p {q(settings.path)} && "
                               f"chown {q(c.user)}: {q(settings.path)}")
    missing = [p.split(":", 1)[1] for p in problems if p.startswith("missing:")]
    if missing:
        raise DeployTasksError(f"missing on {host_name(c)}: {', '.join(missing)} (on Debian/Ubuntu: apt-get install "
                               "git python3-venv)")


def dry_prepare(c, settings, files):
    """--dry: the same checks (the nearest existing directory must be writable), then what would be done."""
    path = settings.path
    command = (f"{missing_tools(settings)}d={q(path)}; while [ ! -e \"$d\" ]; do d=$(dirname \"$d\"); done; "
               f"{{ test -d \"$d\" && test -w \"$d\"; }} || echo unwritable")
    refuse(c, settings, run(c, command, what="checking the server", changes=False).stdout.split())
    console.print(f"[dim]dry-run:[/] {make_layout(path)}", highlight=False, soft_wrap=True)
    installer.setup_server_uv(c, settings, path)
    finish(c, path, shared.upload_missing(c, files, shared.server_state(c, files)))


def finish(c, path, report):
    console.print(f"[green]✓[/] {host_name(c)}:{path} ready (releases/, shared/, backups/)")
    for line in report:
        console.print("  " + line, highlight=False)
