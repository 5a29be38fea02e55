"""Which tool builds virtualenvs (uv, else pip), and the shell commands that build them with it."""
import posixpath
import shutil

from .errors import DeployTasksError
from .output import console
from .server.uv_lock import EXPORTED, export_command, is_lock
from .shell import is_dry, q, run

STAMP = ".deploytasks-requirements"
# the server user's own cache (shell text): uv's cache and a copy of the uv `fab setup` installed, for all the
# user's deploy paths
USER_DIR = "${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/deploytasks"  # used inside double quotes
NO_UV = "no uv found (pip install uv, or set deploytasks.installer: pip)"


def local_uv(installer) -> str:
    """The uv binary to build local venvs with ("" means pip): the `uv` package's own, else one on PATH."""
    if installer == "pip":
        return ""
    try:
        import uv

        found = uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv") or ""
    if not found and installer == "uv":
        raise DeployTasksError(f"deploytasks.installer is uv but {NO_UV}")
    return found


def stamp_command(venv, digest) -> str:
    return f"printf '%s\\n' {q(digest)} > {q(posixpath.join(venv, STAMP))}"


def install_command(python, requirements, venv="", digest=None, uv="") -> str:
    """Install -r requirements (with uv when given, else pip), then (in a venv) the stamp that lets the next be
    skipped. A uv.lock is exported first (its dev group too: this machine is a laptop) and needs uv and a venv."""
    if is_lock(requirements) and not (uv and venv):
        raise DeployTasksError(f"{requirements} is a uv lock, which needs uv and a venv to install "
                               "(set deploytasks.installer: auto or uv, and deploytasks.venv)")
    if uv:
        command = uv_install_command(q(uv), python, requirements, venv, dev=True)
    else:
        command = f"{q(python)} -m pip install --disable-pip-version-check -q -r {q(requirements)}"
    if venv and digest:
        command += f" && {stamp_command(venv, digest)}"
    return command


def uv_install_command(uv_shell, python, requirements, venv, dev) -> str:
    """`uv pip install -r requirements` into the venv of `python` (uv_shell: shell text naming the binary, a quoted
    path or "$uv"); a uv.lock is exported into `venv` first, its dev group too when `dev`."""
    if is_lock(requirements):
        exported = posixpath.join(venv, EXPORTED)
        return (f"{export_command(uv_shell, requirements, exported, dev)} && "
                f"{uv_shell} pip install -q --python {q(python)} -r {q(exported)}")
    return f"{uv_shell} pip install -q --python {q(python)} -r {q(requirements)}"


def venv_command(base_python, venv, uv="", seed=True) -> str:
    """Create a venv with pip in it (uv seeds pip so that users keep it; seed=False: the caller adds pip later,
    with pip_command)."""
    if uv:
        return uv_venv_command(q(uv), base_python, venv, seed)
    return f"{q(base_python)} -m venv {q(venv)}"


def uv_venv_command(uv_shell, base_python, venv, seed=True) -> str:
    """`uv venv --seed` with `uv_shell` (shell text naming the binary: a quoted path or "$uv")."""
    return f"{uv_shell} venv -q{' --seed' if seed else ''} --python \"$(command -v {q(base_python)})\" {q(venv)}"


def pip_command(uv, venv) -> str:
    """Add pip to a venv uv built without it; prints "present" or "added"."""
    pip, python = posixpath.join(venv, "bin", "pip"), posixpath.join(venv, "bin", "python")
    return f"if [ -x {q(pip)} ]; then echo present; else {q(uv)} pip install -q --python {q(python)} pip && echo added; fi"


def server_build_command(settings, path, venv, requirements, digest) -> str:
    """Build a server venv, complete or absent: uv from {path}/.deploytasks or PATH (unless installer: pip), else pip.

    Prints `builder: uv PATH` or `builder: pip` first; the venv is removed when any part fails, stamped last.
    The uv cache stays in {path}/.deploytasks/uv-cache between deploys; {path}/.deploytasks/uv.env (written by
    `fab setup` from the server's pip configuration) gives uv the index the server's pip uses.
    """
    tools = posixpath.join(path, ".deploytasks")
    python = posixpath.join(venv, "bin", "python")
    env_file = posixpath.join(tools, "uv.env")
    uv_build = (
        'echo "builder: uv $uv" && '
        f"{{ {uv_cache_ready(tools)}; }} && "
        f"if [ -f {q(env_file)} ]; then set -a && . {q(env_file)} && set +a; fi && "
        f"export UV_CACHE_DIR={q(posixpath.join(tools, 'uv-cache'))} && "
        f"{uv_venv_command(chr(34) + '$uv' + chr(34), settings.python, venv)} && "
        f"{uv_install_command(chr(34) + '$uv' + chr(34), python, requirements, venv, dev=False)}"
    )
    if is_lock(requirements):  # pip cannot read a uv lock
        needs_uv = (f"deploytasks.requirements is {requirements}, a uv lock, which needs uv on the server: "
                    + ("set deploytasks.installer: auto" if settings.installer == "pip" else "run `fab setup`"))
        pip_build = f"echo {q(needs_uv)} >&2 && false"
    else:
        pip_build = (f"echo 'builder: pip' && {venv_command(settings.python, venv)} && "
                     f"{install_command(python, requirements)}")
    if settings.installer == "pip":
        build = pip_build
    else:
        missing = f"deploytasks.installer is uv but there is no uv on PATH or in {tools}: run `fab setup`"
        fallback = pip_build if settings.installer == "auto" else f"echo {q(missing)} >&2 && false"
        installed = q(posixpath.join(tools, "uv"))
        build = (
            f"uv=; if [ -x {installed} ]; then uv={installed}; "
            f"elif command -v uv >/dev/null 2>&1; then uv=$(command -v uv); fi; "
            f'if [ -n "$uv" ]; then {uv_build}; else {fallback}; fi'
        )
    return (f"rm -rf {q(venv)} && ( {build} ) && {stamp_command(venv, digest)} "
            f"|| {{ status=$?; rm -rf {q(venv)}; exit $status; }}")


def uv_cache_ready(tools) -> str:
    """Shell: {tools}/uv-cache usable by uv. It is a link to the user's shared cache (server_uv_command), which a
    cache clean (rm -rf ~/.cache) removes; uv then fails on the dangling link ("File exists"). The link's target
    is made again (empty: uv fetches what it needs), else the link is replaced by a cache of the path's own.
    Prints `uv-cache: made TARGET` or `uv-cache: own PATH` when it did either (uv_cache_note says it)."""
    cache = q(posixpath.join(tools, "uv-cache"))
    return (f'if [ -L {cache} ] && [ ! -e {cache} ]; then cache_target=$(readlink {cache}); '
            f'if (umask 077 && cd {q(tools)} && mkdir -p "$cache_target") 2>/dev/null && [ -d {cache} ]; '
            f'then echo "uv-cache: made $cache_target"; '
            f'else rm -f {cache} && mkdir -p {cache} && echo "uv-cache: own "{cache}; fi; fi')


def uv_cache_note(printed) -> str:
    """What uv_cache_ready did, in words ("" when the cache was there)."""
    for line in (printed or "").splitlines():
        if line.startswith("uv-cache: made "):
            return (f"the uv cache {line.split(' ', 2)[2]} was gone (a cache clean?), so its link dangled: "
                    "made again, empty (packages are fetched again once)")
        if line.startswith("uv-cache: own "):
            return (f"the uv cache's link dangled and its target could not be made again: "
                    f"{line.split(' ', 2)[2]} is now this path's own cache")
    return ""


def failure_summary(output) -> str:
    """uv's error names the failed fetch (index URL and requirement) in its causes, not in its last line."""
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if not errors:
        return ""
    fetch = [line.removeprefix("cause: ") for line in lines if "Failed to fetch" in line or "Failed to download" in line]
    causes = [line.removeprefix("cause: ") for line in lines if line.startswith("cause:")]
    parts = [errors[-1].removeprefix("error: ")] + fetch[:1] + causes[-1:]
    return "; ".join(dict.fromkeys(parts))


def uv_index_env(environ) -> dict:
    """UV_* variables that give uv the package index pip is configured with, unless uv has one of its own, and
    SSL_CERT_FILE from pip's `cert` (the CA bundle pip trusts, e.g. a proxy's) unless it is set.

    Stdlib only, imports inside (as are its helpers): `fab setup` runs their source with the server's Python.
    """
    import os

    pip = pip_settings(environ, ("index-url", "extra-index-url", "find-links", "no-index", "cert"))
    uv = {}
    if not environ.get("SSL_CERT_FILE") and os.path.isfile(pip.get("cert", "")):
        uv["SSL_CERT_FILE"] = pip["cert"]
    own = ("UV_INDEX", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_NO_INDEX",
           "UV_CONFIG_FILE", "UV_NO_CONFIG")
    if any(environ.get(name) for name in own) or uv_has_an_index(environ):
        return uv
    if pip.get("index-url", "").strip():
        uv["UV_DEFAULT_INDEX"] = pip["index-url"].split()[0]
    if pip.get("extra-index-url", "").split():
        uv["UV_INDEX"] = " ".join(pip["extra-index-url"].split())
    links = [link for link in pip.get("find-links", "").split()
             if "://" in link or os.path.isdir(link)]  # pip skips missing directories, uv would fail on them
    if links:
        uv["UV_FIND_LINKS"] = ",".join(links)
    if pip.get("no-index", "").strip().lower() in ("1", "true", "yes", "on"):
        uv["UV_NO_INDEX"] = "1"
    if {"UV_INDEX", "UV_FIND_LINKS"} & set(uv):
        uv["UV_INDEX_STRATEGY"] = "unsafe-best-match"  # pip's rule: the best version from any of its sources
    return uv


def config_places(environ):
    import os

    home = environ.get("HOME") or os.path.expanduser("~")
    return home, environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), \
        (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")


def uv_has_an_index(environ) -> bool:
    """Whether a uv.toml (user or system) configures an index of its own."""
    import os

    _, config_home, config_dirs = config_places(environ)
    for uv_toml in [os.path.join(config_home, "uv", "uv.toml")] + [os.path.join(d, "uv", "uv.toml") for d in config_dirs]:
        try:
            with open(uv_toml) as handle:
                text = handle.read()
        except OSError:
            continue
        if "index" in text or "find-links" in text:
            return True
    return False


def pip_settings(environ, keys) -> dict:
    """pip's own reading of `keys`: its config files (global, user, site, PIP_CONFIG_FILE), then PIP_* variables."""
    import configparser
    import os

    home, config_home, config_dirs = config_places(environ)
    files = [os.path.join(d, "pip", "pip.conf") for d in reversed(config_dirs)] + ["/etc/pip.conf"]
    files += [os.path.join(home, ".pip", "pip.conf"), os.path.join(config_home, "pip", "pip.conf")]
    if environ.get("VIRTUAL_ENV"):
        files.append(os.path.join(environ["VIRTUAL_ENV"], "pip.conf"))
    if environ.get("PIP_CONFIG_FILE"):
        files = [] if environ["PIP_CONFIG_FILE"] == os.devnull else files + [environ["PIP_CONFIG_FILE"]]
    pip = {}
    for path in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except (configparser.Error, UnicodeDecodeError):
            continue
        for section in ("global", "install"):
            for key in keys:
                if parser.has_option(section, key):
                    pip[key] = parser.get(section, key)
    for key in keys:
        value = environ.get("PIP_" + key.upper().replace("-", "_"))
        if value is not None:
            pip[key] = value
    return pip


def server_uv_command(settings, path) -> str:
    """uv on the server's PATH, else the copy a former `fab setup` of this user kept in ~/.cache/deploytasks/uv
    (hard-linked, else copied, into {path}/.deploytasks/uv), else installed there with the server's Python and pip
    and a copy kept for the user's next deploy paths; the uv cache shared by the user's deploy paths on one file
    system; then {path}/.deploytasks/uv.env (0600) from the server's pip index settings. Prints what it found."""
    tools = posixpath.join(path, ".deploytasks")
    installed, env, log = (q(posixpath.join(tools, name)) for name in ("uv", "uv-venv", "uv-install.log"))
    python = q(settings.python)
    # the uv wheel's binary stands alone: copies of it work anywhere
    kept, partial = f'"{USER_DIR}/uv"', f'"{USER_DIR}/uv.$$"'
    keep_for_user = (f'(umask 077 && mkdir -p "{USER_DIR}") 2>/dev/null && cp {env}/bin/uv {partial} 2>/dev/null && '
                     f'mv -f {partial} {kept} || rm -f {partial}')
    from_user = (f'[ -x {kept} ] && {kept} --version >/dev/null 2>&1 && '
                 f'{{ ln -f {kept} {installed}.new 2>/dev/null || cp {kept} {installed}.new; }} && '
                 f'mv -f {installed}.new {installed}')
    find_or_install = (
        f"mkdir -p {q(tools)} || exit 1; "
        f"if command -v uv >/dev/null 2>&1; then echo \"uv-on-path: $(command -v uv)\"; "
        f"elif [ -x {installed} ]; then echo uv-kept; "
        f"elif {from_user}; then echo uv-copied; "
        f"else rm -rf {env} {installed}.new; "
        # the Python's own pip into a venv without one (0.1 s instead of ensurepip's 2 s), else the venv's pip
        f"if {{ {{ {python} -m venv --without-pip {env} && {python} -m pip --python {env}/bin/python install "
        f"--disable-pip-version-check -q uv; }} || {{ rm -rf {env} && {python} -m venv {env} && "
        f"{env}/bin/python -m pip install --disable-pip-version-check -q uv; }}; }} "
        f">{log} 2>&1 && ln -sfn uv-venv/bin/uv {installed}; "
        f"then echo uv-installed; {keep_for_user}; "
        f"else rm -rf {env}; echo \"no-uv: $(tail -n 1 {log})\"; fi; fi"
    )
    import inspect

    write_env = (
        "".join(inspect.getsource(function) + "\n" for function in
                (config_places, uv_has_an_index, pip_settings, uv_index_env))
        + "import os, shlex\n"
        + f"target = {posixpath.join(tools, 'uv.env')!r}\n"
        + "os.umask(0o077)\n"
        + "with open(target + '.tmp', 'w') as handle:\n"
        + "    for name, value in sorted(uv_index_env(os.environ).items()):\n"
        + "        handle.write(f'{name}={shlex.quote(value)}\\n')\n"
        + "os.replace(target + '.tmp', target)\n"
    )
    # one uv cache for every deploy path of this user on the same file system (uv hardlinks from it), so a second
    # site or stage starts warm; elsewhere (or when the path has one already) the path keeps its own
    cache = q(posixpath.join(tools, "uv-cache"))
    share_cache = (
        f"{uv_cache_ready(tools)}; "
        f'shared="{USER_DIR}/uv-cache"; '
        f'if [ ! -e {cache} ] && [ ! -L {cache} ] && (umask 077 && mkdir -p "$shared") 2>/dev/null && '
        f'[ "$(stat -c %d "$shared")" = "$(stat -c %d {q(tools)})" ]; then ln -s "$shared" {cache}; fi'
    )
    return f"{{ {find_or_install}; }} </dev/null; {share_cache}; {python} -c {q(write_env)}"


def setup_server_uv(c, settings, path) -> None:
    """`fab setup`'s part: make sure deploys find a uv (unless installer: pip) and say in one line which."""
    if settings.installer == "pip":
        console.print("[green]✓[/] venvs are built with pip (deploytasks.installer: pip)")
        return
    if is_dry(c):  # the command holds the pip-settings reader's source: say what it does instead
        console.print(f"[dim]dry-run:[/] find uv on PATH, else install it into {path}/.deploytasks/uv "
                      f"({settings.python} -m venv + pip install uv, with {settings.python}'s own pip when it has "
                      f"one); write {path}/.deploytasks/uv.env", highlight=False)
        return
    report_server_uv(c, settings, path, run(c, server_uv_command(settings, path),
                                            what="looking for uv on the server").stdout)


def report_server_uv(c, settings, path, printed) -> None:
    """Say in one line which uv deploys will use, from what server_uv_command printed (its fault: an error when
    deploytasks.installer is uv, else a warning that pip builds until then)."""
    lines = printed.splitlines()
    tools = posixpath.join(path, ".deploytasks", "uv")
    if note := uv_cache_note(printed):
        console.print(f"[yellow]![/] {note}", highlight=False)
    found = next((line for line in lines
                  if line.startswith(("uv-on-path:", "uv-kept", "uv-copied", "uv-installed", "no-uv:"))), "")
    if found.startswith("uv-on-path:"):
        console.print(f"[green]✓[/] venvs are built with uv: {found.split(':', 1)[1].strip()} (on PATH)")
    elif found == "uv-copied":
        console.print(f"[green]✓[/] venvs are built with uv: {tools}, copied from ~/.cache/deploytasks/uv "
                      "(installed by an earlier `fab setup` of this user; no uv on PATH)")
    elif found.startswith(("uv-kept", "uv-installed")):
        done = "installed" if found == "uv-installed" else "kept"
        console.print(f"[green]✓[/] venvs are built with uv: {done} {tools} (no uv on PATH)")
    else:
        reason = found.split(":", 1)[1].strip() if ":" in found else "unknown"
        hint = (f"no uv on {c.host}'s PATH and `{settings.python} -m pip install uv` into {path}/.deploytasks failed "
                f"({reason}): install uv on the server (pip install uv, or its installer) and run `fab setup` again")
        if settings.installer == "uv":
            raise DeployTasksError(hint)
        console.print(f"[yellow]![/] {hint}; until then venvs are built with pip")
