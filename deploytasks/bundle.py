"""deploytasks/server as one zip (a .pyz) that the target side imports: built in memory, deterministic, named
by its content, shipped once per version and reused.

Commands find it through $DEPLOYTASKS_PYZ, set by locator() in the same shell command: on a server
{path}/.deploytasks/<hash16>.pyz (or ~/.cache/deploytasks/shipped/ while the deploy path is not writable);
locally the per-user cache ~/.cache/deploytasks/. A command whose bundle is not there exits MISSING before it starts Python; the caller ships
the bundle (ship) and runs it again."""
import functools
import hashlib
import io
import os
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import DeployTasksError
from .server.runner import NO_SITE, RESOLVED_LINK

PACKAGE = "deploytasks_server"  # the server package's name inside the zip
MISSING = 97  # exit status of a command whose bundle is not on the target yet
# Both start-ups import the server package from the bundle's compiled twin when there is one: the same sources
# with their bytecode for this interpreter, <bundle>.<cache tag>.pyz, written beside it by the first run
# (server/runner.py compile_beside; zipimport would compile every module again at every start).
ENTRY = ("import os, sys\n"
         "bundle = os.environ.get('DEPLOYTASKS_PYZ', '')\n"
         "twin = bundle[:-4] + '.' + str(sys.implementation.cache_tag) + '.pyz'\n"
         "if bundle.endswith('.pyz') and os.path.exists(twin):\n"
         "    sys.path[0] = twin\n"
         f"from {PACKAGE}.runner import main\n"
         "main()\n")
# What `manage.py shell -c` (or the settings-only start-up) runs: the same for every command and version.
ON_PATH = ("import os, sys; b = os.environ['DEPLOYTASKS_PYZ']; t = b[:-4] + '.' + str(sys.implementation.cache_tag) "
           "+ '.pyz'; sys.path.insert(0, t if b.endswith('.pyz') and os.path.exists(t) else b); ")
BOOTSTRAP = ON_PATH + f"from {PACKAGE}.runner import main; main()"
# A Python of the live venv started before the new release exists, to become its pre-deploy Django (server/warm_start.py)
WARM_BOOT = ON_PATH + f"from {PACKAGE}.warm_start import main; main()"
# The settings-only start-up: manage.py (its path in argv[1]) run for its set-up, then the request
SETTINGS_BOOTSTRAP = (ON_PATH + f"from {PACKAGE}.settings_only import set_up; set_up(sys.argv[1]); "
                      f"from {PACKAGE}.runner import main; main()")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SOURCE = Path(__file__).with_name("server")
# Where a server keeps bundles while the deploy path is not writable (shell words; not the local cache, so
# a laptop that is also its own server still ships to it).
SERVER_CACHE = '"${XDG_CACHE_HOME:-$HOME/.cache}/deploytasks/shipped"'


@dataclass(frozen=True)
class Bundle:
    name: str  # <first 16 hex digits of the sha256 of data>.pyz
    data: bytes


def build(source=None) -> Bundle:
    """The zip of every .py file under `source` (deploytasks/server), sorted, with fixed timestamps."""
    import zipfile  # only when the cache has no bundle for these sources (cached below)

    def entry(archive, name, data):
        info = zipfile.ZipInfo(name, ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, data)

    source = Path(source or SOURCE)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry(archive, "__main__.py", ENTRY)
        for path in sorted(source.rglob("*.py")):
            entry(archive, f"{PACKAGE}/{path.relative_to(source).as_posix()}", path.read_bytes())
    data = buffer.getvalue()
    return Bundle(name_of(data), data)


def name_of(data) -> str:
    return hashlib.sha256(data).hexdigest()[:16] + ".pyz"


@functools.lru_cache(maxsize=1)
def current() -> Bundle:
    return cached(SOURCE, local_cache())


def cached(source, cache) -> Bundle:
    """The bundle of `source`, from `cache` when it holds one for these very files (the index names it by their
    paths, sizes and mtimes, as Python's own .pyc files are checked; the bundle's content is checked against its
    name), else built and cached: building zips and compresses every module, about 10 ms of each command."""
    index = os.path.join(cache, "index", sources_signature(source))
    try:
        with open(index) as handle:
            name = handle.read().strip()
        with open(os.path.join(cache, os.path.basename(name)), "rb") as handle:
            data = handle.read()
        if name and name_of(data) == name:
            return Bundle(name, data)
    except OSError:
        pass
    bundle = build(source)
    try:
        cache_file(cache, bundle.name, bundle.data)
        cache_file(os.path.dirname(index), os.path.basename(index), bundle.name.encode())
    except OSError:  # a read-only home: build again next time
        pass
    return bundle


def sources_signature(source) -> str:
    """What identifies the server sources without reading them: deploytasks' version and each file's path, size
    and mtime."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(source).rglob("*.py")):
        stat = path.stat()
        digest.update(f"\0{path.relative_to(source).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def local_cache() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "deploytasks")


def local_path() -> str:
    """The bundle in the per-user cache (mode 0700 directory), written there the first time."""
    bundle = current()
    directory = local_cache()
    path = os.path.join(directory, bundle.name)
    if not os.path.exists(path):
        cache_file(directory, bundle.name, bundle.data)
    return path


def cache_file(directory, name, data) -> None:
    """`data` into directory/name (a 0700 directory, a 0600 file) through a temporary name."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    path = os.path.join(directory, name)
    partial = f"{path}.{os.getpid()}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


def locator(tools=None) -> str:
    """Shell that exports DEPLOYTASKS_PYZ (or exits MISSING), to put before a command that runs the bundle.
    tools: the server directory for bundles; None: run locally (the bundle is written into the cache now)."""
    if not tools:
        return f"export DEPLOYTASKS_PYZ={q(local_path())}; "
    name = q(current().name)
    return (f"DEPLOYTASKS_PYZ={q(posixpath.join(tools, current().name))}; "
            f'if [ ! -e "$DEPLOYTASKS_PYZ" ]; then {_deploy_path_writable(tools)} && exit {MISSING}; '
            f'DEPLOYTASKS_PYZ={SERVER_CACHE}/{name}; [ -e "$DEPLOYTASKS_PYZ" ] || exit {MISSING}; fi; '
            "export DEPLOYTASKS_PYZ; ")


def run_with(python) -> str:
    """Shell running the located bundle with `python`. A bare name (`python3`) is resolved by the shell on the
    first run only: the bundle then links `<name>.resolved` beside itself to the interpreter it ran in
    (RESOLVED_LINK), and later commands start that directly. A version manager's shim (pyenv's takes ~0.07 s) is
    paid once, not on every command. A link that no longer runs is resolved again; `fab setup` removes it."""
    if "/" in str(python):
        return f'{q(python)} {NO_SITE} "$DEPLOYTASKS_PYZ"'
    link = q(resolved_name(python))
    return (f'py="${{DEPLOYTASKS_PYZ%/*}}"/{link}; if [ -x "$py" ]; then exec "$py" {NO_SITE} "$DEPLOYTASKS_PYZ"; '
            f'else export {RESOLVED_LINK}="$py"; exec {q(python)} {NO_SITE} "$DEPLOYTASKS_PYZ"; fi')


def linked_python(python, tools) -> str:
    """Shell setting $py to the interpreter `python` was resolved to in `tools` (run_with), else `python` itself:
    for a plain `"$py" -c …` that needs no bundle."""
    if "/" in str(python):
        return f"py={q(python)}; "
    return f'py={q(posixpath.join(tools, resolved_name(python)))}; [ -x "$py" ] || py={q(python)}; '


def resolved_name(python) -> str:
    """The link's name beside the bundles: what the bare name `python` resolved to."""
    return f"{python}.resolved"


def resolved_links(tools) -> str:
    """Shell removing the interpreter links beside the bundles in `tools` (run_with resolves them again)."""
    return f"rm -f {q(tools)}/*.resolved"


def _deploy_path_writable(tools) -> str:
    """Shell test: the deploy path (the parent of `tools`) is a directory this user can write, so the bundle
    belongs in `tools` (the user's cache stands in only while it is not)."""
    parent = q(posixpath.dirname(tools.rstrip("/")))
    return f"[ -d {parent} ] && [ -w {parent} ]"


def ship(c, tools) -> str:
    """Upload the bundle (a temporary name, then renamed): into `tools` when its parent (the deploy path) exists
    and is writable, else into the SSH user's cache. Returns the bundle's path there."""
    from .shell import run

    made = run(c, f"if {_deploy_path_writable(tools)}; then d={q(tools)}; else d={SERVER_CACHE}; fi; "
                  'mkdir -p "$d" && chmod 700 "$d" && printf "%s\\n" "$d"',
               what="creating a directory for deploytasks' server code", changes=False, check=False)
    where = made.stdout.strip()
    if made.failed or not where:
        problem = (made.stderr.strip().splitlines() or [f"exit status {made.exited}"])[-1]
        raise DeployTasksError(f"cannot create a directory for deploytasks' server code on the server: {problem}")
    return put(c, where)


def put(c, where) -> str:
    """Upload the bundle into the existing directory `where` (a temporary name, checked, then renamed), on the
    stdin of one command: not over SFTP, which a shell start-up that prints (a welcome line in ~/.bashrc) breaks
    where the sftp server is a program the shell starts (Debian's default)."""
    from .shell import run, written_from_stdin

    bundle = current()
    final = posixpath.join(where, bundle.name)
    partial = f"{final}.partial"
    write, stdin = written_from_stdin(partial, bundle.data)
    run(c, f"{write} && mv -f {q(partial)} {q(final)} || {{ status=$?; rm -f {q(partial)}; exit $status; }}",
        what=f"uploading deploytasks' server code to {where}", changes=False, in_stream=stdin)
    return final


def q(value) -> str:
    return shlex.quote(str(value))
