"""A uv project's lock (`uv.lock`) as the requirements: the packages it pins, read without a TOML parser (the
server's Python may predate tomllib), and the uv commands that install exactly them."""
import os
import re

LOCK_NAME = "uv.lock"
EXPORTED = ".deploytasks-uv-lock.txt"  # in the venv being built: the lock exported as a requirements file
PROJECT_SOURCE = re.compile(r'^source\s*=\s*\{\s*(virtual|editable)\s*=\s*"\."\s*\}')


def is_lock(requirements):
    """Whether the requirements setting names a uv lock rather than a requirements file."""
    return os.path.basename(requirements) == LOCK_NAME


def packages(text):
    """{normalized name: version} of every package the lock pins, the project itself left out."""
    found, name, version, own = {}, None, None, False

    def keep():
        if name and version and not own:
            found[re.sub(r"[-_.]+", "-", name).lower()] = version

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            if line == "[[package]]":
                keep()
                name, version, own = None, None, False
            continue
        match = re.match(r'^(name|version)\s*=\s*"([^"]*)"', line)
        if match and match.group(1) == "name" and name is None:
            name = match.group(2)
        elif match and match.group(1) == "version" and version is None:
            version = match.group(2)
        elif PROJECT_SOURCE.match(line):
            own = True
    keep()
    return found


def export_command(uv_shell, lock, out, dev):
    """Shell text: the lock's packages (the dev group too when `dev`) written to `out` as a requirements file with
    their hashes, for `uv pip install -r`; the lock used as it is (--frozen: never re-resolved)."""
    from shlex import quote

    project = os.path.dirname(lock) or "."
    return "%s export -q --frozen --no-emit-project%s --project %s -o %s" % (
        uv_shell, "" if dev else " --no-dev", quote(project), quote(out))
