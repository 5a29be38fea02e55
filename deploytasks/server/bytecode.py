"""Bytecode a new venv can take from the live one. uv links a package's files from its cache into every venv that
installs the same version, but the bytecode Python writes on import stays in the venv that wrote it: after a
requirements change, the new venv's first Django start-up (the release's checks, on the deploy's path) compiled
again every module it imported, about 0.6 s of CPU for Django alone. A `.pyc` whose source is the very same file
(the same inode) in both venvs is valid in both, so it is linked across; everything else compiles as before."""
import os


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
    except OSError:
        return 0
