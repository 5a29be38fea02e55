"""Bytecode a new venv or release can take from the live one, so that its first Django start-up (the deploy's
checks, on the deploy's path) does not compile again what did not change.

Venvs: uv links a package's files from its cache into every venv that
installs the same version, but the bytecode Python writes on import stays in the venv that wrote it: after a
requirements change, the new venv's first Django start-up (the release's checks, on the deploy's path) compiled
again every module it imported, about 0.6 s of CPU for Django alone. A `.pyc` whose source is the very same file
(the same inode) in both venvs is valid in both, so it is linked across; everything else compiles as before.
Releases: see link_unchanged_modules."""
import os
import stat

from .files import sha256_of


def site_packages(venv):
    """venv/lib/pythonX.Y/site-packages, or None."""
    lib = os.path.join(venv, "lib")
    try:
        names = [name for name in os.listdir(lib) if name.startswith("python")]
    except OSError:
        return None
    if len(names) != 1:
        return None
    found = os.path.join(lib, names[0], "site-packages")
    return found if os.path.isdir(found) else None


def _same_file(a, b):
    try:
        first, second = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def link_shared(old_venv, new_venv):
    """Hard-link into `new_venv` the bytecode `old_venv` holds for source files the two venvs share. Both must be
    of the same Python version (their lib/pythonX.Y). Returns how many files were linked."""
    old, new = site_packages(old_venv), site_packages(new_venv)
    if not old or not new or os.path.basename(os.path.dirname(old)) != os.path.basename(os.path.dirname(new)):
        return 0
    linked = 0
    for directory, _dirs, names in os.walk(old):
        if os.path.basename(directory) != "__pycache__":
            continue
        package = os.path.relpath(os.path.dirname(directory), old)
        for name in names:
            if not name.endswith(".pyc"):
                continue
            source = name.split(".", 1)[0] + ".py"
            if not _same_file(os.path.join(old, package, source), os.path.join(new, package, source)):
                continue
            cache = os.path.join(new, package, "__pycache__")
            try:
                os.makedirs(cache, exist_ok=True)
                os.link(os.path.join(directory, name), os.path.join(cache, name))
            except OSError:  # already there, another file system, a name Python did not write: it compiles
                continue
            linked += 1
    return linked


def link_from_live(layout, venv):
    """link_shared from the live release's venv into `venv` (a venv just built); 0 when there is none."""
    live = os.path.realpath(os.path.join(layout.current, ".venv"))
    if not os.path.isdir(live) or live == os.path.realpath(venv):
        return 0
    try:
        return link_shared(live, venv)
    except Exception:  # noqa: BLE001 - bytecode only saves time: without it, the venv compiles as before
        return 0


def link_from_live_release(layout, current, release_dir):
    """link_unchanged_modules from the live release `current` (None: no live release) into `release_dir`."""
    if not current:
        return 0
    try:
        return link_unchanged_modules(layout.release(current), release_dir)
    except Exception:  # noqa: BLE001 - bytecode only saves time: without it, the release compiles as before
        return 0


def link_unchanged_modules(old_release, new_release):
    """The project's own modules: a new release is a fresh `git archive` (every file's mtime the commit's), so its
    first Django start-up compiled every module again, changed or not. For each .py file of `new_release` whose bytes
    are those of the same path in `old_release`, the new file takes the old one's mtime, which makes the old
    release's bytecode for it valid, and that bytecode is hard-linked beside it. Returns how many modules."""
    taken = 0
    for directory, dirs, names in os.walk(new_release):  # symlinked directories (shared media, .venv) not entered
        dirs[:] = [name for name in dirs if name != "__pycache__"]
        old_directory = os.path.join(old_release, os.path.relpath(directory, new_release))
        try:
            cached = os.listdir(os.path.join(old_directory, "__pycache__"))
        except OSError:
            continue
        by_module = {}
        for pyc in cached:
            if pyc.endswith(".pyc"):
                by_module.setdefault(pyc.split(".", 1)[0], []).append(pyc)
        for name in names:
            pycs = by_module.get(name[:-3]) if name.endswith(".py") else None
            if not pycs:
                continue
            new, old = os.path.join(directory, name), os.path.join(old_directory, name)
            try:
                new_status, old_status = os.lstat(new), os.lstat(old)
                if not (stat.S_ISREG(new_status.st_mode) and stat.S_ISREG(old_status.st_mode)) \
                        or new_status.st_size != old_status.st_size or sha256_of(new) != sha256_of(old):
                    continue
                os.utime(new, ns=(old_status.st_atime_ns, old_status.st_mtime_ns))
                cache = os.path.join(directory, "__pycache__")
                os.makedirs(cache, exist_ok=True)
                for pyc in pycs:
                    os.link(os.path.join(old_directory, "__pycache__", pyc), os.path.join(cache, pyc))
            except OSError:  # gone meanwhile, already there, not ours: Python compiles it as before
                continue
            taken += 1
    return taken
