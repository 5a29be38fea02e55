"""Downloading a server's media archive without the files the local copy already has: the newest media archive
in the local backup directory names its contents (size + sha256 of each file), the server sends a delta of
the rest (server/media_delta.py), and the archive is rebuilt here and checked against the manifest's sha256.
Without an earlier local archive, or when the delta fails, the whole archive is downloaded."""
import json
import os
import tarfile

from .errors import DeployTasksError
from .server import media_delta
from .server.errors import ServerError
from .shell import run_script

SUFFIX = media_delta.SUFFIX
CONTENTS = ".contents"  # beside a local archive: its contents(), written when it was rebuilt


def previous_archive(local_dir, name):
    """The newest local media archive other than `name` (None when there is none)."""
    found = [os.path.join(local_dir, n) for n in os.listdir(local_dir) if n.endswith(SUFFIX) and n != name]
    return max(found, key=lambda p: os.stat(p).st_mtime_ns) if found else None


def contents(archive):
    """media_delta.contents() of a local archive, from its `.contents` file when that was written for an archive
    of this size (a wrong one only makes the rebuilt archive fail its sha256: then the archive comes whole)."""
    try:
        with open(archive + CONTENTS) as handle:
            cached = json.load(handle)
        if cached["size"] == os.path.getsize(archive):
            return cached["contents"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return media_delta.contents(archive)


def remember(archive, found):
    """Keep an archive's contents beside it, so the next backup does not hash it again."""
    fd = os.open(archive + CONTENTS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"size": os.path.getsize(archive), "contents": found}, handle)


def incremental(c, project, settings, media, local_dir):
    """Fetch the archive media["path"] as a delta against the newest local archive; returns
    (local path, bytes transferred), or None when there is nothing to build on (the caller downloads it whole)."""
    from .transfer import download

    name = os.path.basename(media["path"])
    previous = previous_archive(local_dir, name)
    if previous is None:
        return None
    try:
        known = contents(previous)
    except (OSError, ServerError, tarfile.TarError):  # a damaged local archive: download the new one whole
        return None
    command = project.python_script_command(project.base_python)
    delta = run_script(c, command, "media_delta", {"archive": media["path"], "known": sorted(known)},
                       what="preparing the media delta", tools=project.tools or None)
    try:
        if not delta["copied"]:
            return None
        local_delta = download(c, delta["path"], local_dir, {"sha256": delta["sha256"], "size": delta["size"]},
                               settings)
    finally:
        run_script(c, command, "media_delta", {"archive": media["path"], "remove": True},
                   what="removing the media delta", tools=project.tools or None)
    local = os.path.join(local_dir, name)
    partial = local + ".partial"
    try:
        os.unlink(local_delta + ".json")
        found = media_delta.assemble(local_delta, previous, known, partial)
        from .backups import sha256_of

        if sha256_of(partial) != media["sha256"]:
            raise DeployTasksError(f"the media archive rebuilt from {previous} does not match its sha256")
        os.chmod(partial, 0o600)
        os.replace(partial, local)
        remember(local, found)
    except (OSError, ServerError, DeployTasksError):
        if os.path.exists(partial):
            os.unlink(partial)
        return None
    finally:
        os.unlink(local_delta)
    return local, delta["size"]

