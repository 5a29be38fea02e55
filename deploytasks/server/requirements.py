"""The hash of the requirements (following -r/-c includes) and the interpreter version, and the venv's stamp."""
import hashlib
import os
import re
import sys

from .errors import ServerError
from .results import RequirementsReport
from .uv_lock import is_lock

STAMP = ".deploytasks-requirements"


def requirement_files(path, seen=None, setting="requirements", included_by=None):
    """(path, content) of the file and, depth first, of every file it includes with -r or -c. setting: the
    deploytasks setting that names the file, for the error when it is missing."""
    seen = [] if seen is None else seen
    path = os.path.abspath(path)
    if path in seen:
        return
    if not os.path.isfile(path):
        if included_by:
            raise ServerError("requirements file %s not found: %s includes it (-r/-c); fix that line" % (
                path, included_by))
        if is_lock(path):
            raise ServerError("uv lock %s not found: run `uv lock` and commit uv.lock, or set deploytasks.%s "
                              "to your requirements file" % (path, setting))
        if os.path.isfile(os.path.join(os.path.dirname(path), "uv.lock")):  # a uv project without the setting
            raise ServerError("requirements file %s not found, and the project has a uv.lock: set deploytasks.%s "
                              "= \"uv.lock\"" % (path, setting))
        raise ServerError("requirements file %s not found: set deploytasks.%s to your requirements file" % (
            path, setting))
    seen.append(path)
    with open(path, "rb") as handle:
        content = handle.read()
    yield path, content
    for line in content.decode("utf-8", "replace").splitlines():
        match = re.match(r"^\s*(-r|--requirement|-c|--constraint)\s*=?\s*(\S+)", line)
        if match:
            yield from requirement_files(os.path.join(os.path.dirname(path), match.group(2)), seen, setting, path)


def python_version():
    return "%d.%d.%d" % sys.version_info[:3]


def requirements_digest(path, version=None, setting="requirements"):
    digest = hashlib.sha256(("python %s\n" % (version or python_version())).encode())
    for name, content in requirement_files(path, setting=setting):
        digest.update(os.path.basename(name).encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def read_stamp(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def report(params) -> RequirementsReport:
    """Entry: whether the venv's install stamp matches the current requirements."""
    return {
        "hash": requirements_digest(params["requirements"], setting=params.get("setting", "requirements")),
        "python": python_version(),
        "stamp": read_stamp(params["stamp"]) if params.get("stamp") else None,
        "venv_ok": bool(params.get("venv_python")) and os.path.exists(params["venv_python"]),
    }
