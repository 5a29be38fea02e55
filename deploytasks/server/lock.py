"""The deploy lock: a directory (mkdir is atomic) holding info.json about who holds it."""
import getpass
import json
import os
import shutil
import time

from .errors import ServerError
from .files import write_private

LOCKED = 75  # exit status when another deploy holds the lock


def utcnow():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def lock_info(layout):
    """{"action", "who", "since", "pid", "age"} of the held lock, None when it is not held."""
    try:
        with open(os.path.join(layout.lock, "info.json")) as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        info = {}
    try:
        mtime = os.stat(layout.lock).st_mtime
    except OSError:
        return None
    info["age"] = int(time.time() - since_epoch(info.get("since"), mtime))
    return info


def try_lock(layout, action, who=None):
    """Take the lock if it is free: True, else False (nothing waits)."""
    try:
        os.mkdir(layout.lock, 0o755)
    except FileExistsError:
        return False
    write_info(layout, action, who)
    return True


def write_info(layout, action, who=None):
    write_private(os.path.join(layout.lock, "info.json"), json.dumps({
        "action": action, "who": who or getpass.getuser(), "since": utcnow(), "pid": os.getpid(),
    }))


def since_epoch(since, fallback):
    """`since` ("%Y-%m-%dT%H:%M:%SZ") in seconds since the epoch; `fallback` when it is absent or unreadable."""
    try:
        import calendar  # with datetime: only a held lock's age needs it

        return calendar.timegm(time.strptime(since, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return fallback


def acquire_lock(layout, action, who=None, stale_after=3600):
    """Take the lock or fail with who holds it; what killed transfers left goes at once (leftovers.py)."""
    from .leftovers import remove_uploads

    try:
        os.mkdir(layout.lock, 0o755)
    except FileExistsError:
        info = lock_info(layout) or {}
        stale = info.get("age", 0) > stale_after
        raise ServerError("%s is locked: %s by %s since %s (%ds ago)%s; run `fab unlock --force` only if no deploy is running" % (
            layout.path, info.get("action", "a deploy"), info.get("who", "someone"), info.get("since", "?"),
            info.get("age", 0), ", which looks stale" if stale else ""), code=LOCKED) from None
    write_info(layout, action, who)
    remove_uploads(layout)


def release_lock(layout):
    shutil.rmtree(layout.lock, ignore_errors=True)


def acquire_for(layout, params, action):
    """acquire_lock with the holder and staleness limit the client sent."""
    acquire_lock(layout, action, params.get("who"), params.get("lock_stale_after", 3600))


def hold_as(layout, pid):
    """Name `pid` as the lock's holder (the process that will free it)."""
    path = os.path.join(layout.lock, "info.json")
    try:
        with open(path) as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        info = {}
    info["pid"] = pid
    write_private(path, json.dumps(info))
