"""Entry: what deploying this release would do, asked of the release itself (run in the staging release with
Django set up, against the live database, changing nothing): the introspection and lint, the SQL of each
pending migration, the commits and requirements since the live release, the static files that would change."""
import hashlib
import io
import json
import os
import re
import subprocess
import sys

from django.core.management import call_command

from . import introspect
from .layout import RELEASE_META, ServerLayout
from .requirements import requirement_files
from .uv_lock import is_lock, packages
from .results import DeployPlan

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def sql_of(alias, app, name):
    output = io.StringIO()
    try:
        call_command("sqlmigrate", app, name, database=alias, stdout=output, no_color=True)
    except Exception as exc:  # shown in place of the SQL, the plan goes on
        return "-- sqlmigrate failed: %s: %s" % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    return output.getvalue().strip()


def pins(path):
    """{normalized name: the rest of its line} of a requirements file and its includes ({} when absent)."""
    found = {}
    if not os.path.isfile(path):
        return found
    if is_lock(path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            return {name: "==" + version for name, version in packages(handle.read()).items()}
    for _, content in requirement_files(path):
        for line in content.decode("utf-8", "replace").splitlines():
            line = line.split(" #")[0].strip()
            if not line or line.startswith(("#", "-")):
                continue
            match = PIN.match(line)
            if match:
                found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3).strip() or "(any)"
    return found


def requirements_diff(old_path, new_path):
    old, new = pins(old_path), pins(new_path)
    return {
        "added": ["%s %s" % (name, new[name]) for name in sorted(set(new) - set(old))],
        "removed": ["%s %s" % (name, old[name]) for name in sorted(set(old) - set(new))],
        "changed": ["%s %s -> %s" % (name, old[name], new[name]) for name in sorted(set(old) & set(new))
                    if old[name] != new[name]],
    }


def git(mirror, *args):
    done = subprocess.run(["git", "-C", mirror] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, universal_newlines=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[0] if done.stderr.strip() else "git failed")
    return done.stdout


def commits(mirror, old, new):
    """{commits: [oneline], files_changed} between two revisions of the server's mirror, or {error}."""
    try:
        log = git(mirror, "log", "--oneline", "--no-decorate", "%s..%s" % (old, new)).splitlines()
        files = git(mirror, "diff", "--name-only", old, new).splitlines()
    except (RuntimeError, OSError) as exc:
        return {"error": str(exc)}
    return {"commits": log, "files_changed": len(files)}


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def static_changes(release_dir, live_dir):
    """{new, changed} static files: what the release's finders collect against the live release's STATIC_ROOT
    (skipped unless STATIC_ROOT is inside the release, where the live one's copy can be found)."""
    from django.conf import settings
    from django.contrib.staticfiles.finders import get_finders

    root = os.path.realpath(str(getattr(settings, "STATIC_ROOT", "") or ""))
    release_dir = os.path.realpath(release_dir)
    if not live_dir:
        return {"skipped": "no live release to compare with (first deploy): every file is new"}
    if not root or not root.startswith(release_dir + os.sep):
        return {"skipped": "STATIC_ROOT is not inside the release"}
    live_root = os.path.join(os.path.realpath(live_dir), os.path.relpath(root, release_dir))
    new, changed = [], []
    seen = set()
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            if path in seen:
                continue
            seen.add(path)
            live = os.path.join(live_root, path)
            if not os.path.exists(live):
                new.append(path)
            elif digest(storage.path(path)) != digest(live):
                changed.append(path)
    return {"files": len(seen), "new": sorted(new), "changed": sorted(changed)}


def collectstatic_in_deploy(release_dir, live_dir, params):
    """Whether the deploy's collectstatic would run ("runs") or be skipped, the live release's collected files
    linked (static_files.collect's shortcut), and why: a requirements change collects again even with no static
    file changed (the venv is one of what collectstatic reads)."""
    from .hooks import listed
    from .static_files import inputs_of, static_inputs

    if not params.get("collectstatic", True):
        return {"runs": False, "why": "collectstatic is off (deploytasks.collectstatic: false)"}
    if listed(params, "after", "collectstatic"):
        return {"runs": True, "why": "an after-collectstatic hook may change what it collected"}
    inputs = static_inputs(os.path.realpath(release_dir))
    if inputs is None:
        return {"runs": True, "why": "the project has its own collectstatic command"}
    live_inputs = inputs_of(live_dir)
    if live_inputs is None:
        return {"runs": True, "why": "the live release recorded nothing of what its collectstatic read"}
    if live_inputs == inputs:
        return {"runs": False, "why": "nothing it reads changed: the live release's collected files are linked"}
    if os.path.realpath(sys.prefix) != live_venv(live_dir):
        return {"runs": True, "why": "the venv changed (its packages' static files and Django are what it reads)"}
    return {"runs": True, "why": "static files, the settings or the storage's code changed"}


def live_venv(live_dir):
    """The venv the live release runs with (its metadata's `venv`), or None."""
    try:
        with open(os.path.join(live_dir, RELEASE_META)) as handle:
            return os.path.realpath(json.load(handle).get("venv") or "") or None
    except (OSError, ValueError, AttributeError):
        return None


def main(params) -> DeployPlan:
    alias = params.get("database", "default")
    info = introspect.main(dict(params, schema=False))
    for step in info.get("plan") or []:
        if not step["backwards"]:
            step["sql"] = sql_of(alias, step["app"], step["name"])
    result = {"introspection": info}
    layout = ServerLayout(params["path"])
    live_dir = os.path.realpath(layout.current) if os.path.islink(layout.current) else None
    release_dir = params["release_dir"]
    requirements = params.get("requirements", "requirements.txt")
    result["requirements"] = requirements_diff(os.path.join(live_dir, requirements) if live_dir else "",
                                               os.path.join(release_dir, requirements))
    if params.get("live_revision") and params.get("strategy") == "mirror":
        result["revision_diff"] = commits(layout.mirror, params["live_revision"], params["revision"])
    if params.get("static", True):
        try:
            result["static"] = static_changes(release_dir, live_dir)
        except Exception as exc:  # reported in the plan, never a crash of it
            result["static"] = {"skipped": "%s: %s" % (type(exc).__name__, exc)}
        if "skipped" not in result["static"]:  # STATIC_ROOT in the release, a live one to compare with
            try:
                result["static"]["collectstatic"] = collectstatic_in_deploy(release_dir, live_dir, params)
            except Exception as exc:  # noqa: BLE001 - the deploy then runs it, as collect() does
                result["static"]["collectstatic"] = {"runs": True, "why": "%s: %s" % (type(exc).__name__, exc)}
    return result
