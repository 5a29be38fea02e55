"""`fab setup`: the server's layout (releases/, shared/, backups/ private), its tools checked (git, tar, python3
with venv), uv installed, and production's shared files uploaded."""
from . import installer, shared
from .connection import host_name
from .errors import DeployTasksError
from .output import console
from .shell import is_dry, q, run


def prepare(c, settings):
    """Create the layout and check the tools in one round trip, then install uv and upload the shared files."""
    path = settings.path
    files = shared.shared_files(c, settings, path)  # a refused source stops here, before anything changes
    python = q(settings.python)
    backups = q(path + '/backups')  # dumps hold password hashes: only the deploy user may read them
    make_layout = (f"mkdir -p {q(path + '/releases')} {q(path + '/shared')} && mkdir -p -m 700 {backups} "
                   f"&& chmod 700 {backups}")
    probe = (
        f"for p in git tar; do command -v $p >/dev/null 2>&1 || echo missing:$p; done; "
        f"command -v {python} >/dev/null 2>&1 || echo missing:{python}; "
        f"{python} -c 'import venv, ensurepip' 2>/dev/null || echo missing:{python}-venv; "
        + (f"{{ {make_layout}; }} 2>/dev/null || echo unwritable; "
           f"test -w {q(path)} || echo unwritable" if not is_dry(c) else  # --dry: the nearest existing dir must be writable
           f"d={q(path)}; while [ ! -e \"$d\" ]; do d=$(dirname \"$d\"); done; "
           f"{{ test -d \"$d\" && test -w \"$d\"; }} || echo unwritable")
    )
    problems = run(c, probe, what="checking the server", changes=False).stdout.split()
    if "unwritable" in problems:
        raise DeployTasksError(f"cannot create or write {path} as {c.user}: create it and give {c.user} ownership")
    missing = [p.split(":", 1)[1] for p in problems if p.startswith("missing:")]
    if missing:
        raise DeployTasksError(f"missing on {host_name(c)}: {', '.join(missing)} (on Debian/Ubuntu: apt-get install git python3-venv)")
    if is_dry(c):
        console.print(f"[dim]dry-run:[/] {make_layout}", highlight=False, soft_wrap=True)
    installer.setup_server_uv(c, settings, path)
    report = shared.upload_missing(c, files)
    console.print(f"[green]✓[/] {host_name(c)}:{path} ready (releases/, shared/, backups/)")
    for line in report:
        console.print("  " + line, highlight=False)
