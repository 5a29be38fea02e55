"""The deploy lock: a directory (mkdir is atomic) holding info.json about who holds it."""
import getpass
import json
import os
import secrets
import shutil
import time

from .errors import ServerError
from .files import write_private
from .journal import started_at

LOCKED = 75  # exit status when another deploy holds the lock
ABANDONED_UNNAMED = 120  # seconds after which a lock whose info.json never got written is free to take over


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
    """Name this process as the lock's holder; a lock it cannot write that into (a full disk) is not taken."""
    try:
        write_private(os.path.join(layout.lock, "info.json"), json.dumps({
            "action": action, "who": who or getpass.getuser(), "since": utcnow(), "pid": os.getpid(),
            "started": started_at(os.getpid()), "taking": secrets.token_hex(8),  # this taking, told from any later
        }))
    except OSError as exc:
        release_lock(layout)
        raise ServerError("cannot take the deploy lock %s: writing its info.json failed (%s)" % (
            layout.lock, exc.strerror or exc)) from None


def holder_gone(info):
    """Whether the process a lock's info names as its holder has ended (a reused pid is told by its start time);
    False when the info names none (a lock being taken, or one an earlier version took)."""
    pid = info.get("pid")
    if not isinstance(pid, int):  # no holder named: being taken this instant, unless it has been so for minutes
        return "action" not in info and info.get("age", 0) > ABANDONED_UNNAMED
    started = started_at(pid)
    return started is None or ("started" in info and started != info["started"])


def take_over_abandoned(layout):
    """The lock, when the process holding it has ended with no deploy journal to recover (a `fab` killed between
    taking it and handing it to its guard or supervisor, a killed guard, a killed prepare): moved aside (one taker
    wins the rename), what it held cleaned up, and taken. Returns what was taken over, or None."""
    from . import early_safety
    from . import journal as journals

    info = lock_info(layout)
    if not info or not holder_gone(info) or journals.read(layout):
        return None
    aside = "%s.abandoned-%d" % (layout.lock, os.getpid())
    try:
        os.rename(layout.lock, aside)
    except OSError:  # another taker moved it first
        return None
    early_safety.discard(aside)
    shutil.rmtree(aside, ignore_errors=True)
    try:
        os.mkdir(layout.lock, 0o755)
    except FileExistsError:  # that other taker holds it now
        return None
    if not isinstance(info.get("pid"), int):
        return "took over the lock taken %ds ago whose taker never recorded itself (it died, or the disk was full)" % (
            info.get("age", 0))
    return "took over the lock %s by %s left at %s: its process %s had ended" % (
        info.get("action", "a deploy"), info.get("who", "someone"), info.get("since", "?"), info.get("pid"))


def since_epoch(since, fallback):
    """`since` ("%Y-%m-%dT%H:%M:%SZ") in seconds since the epoch; `fallback` when it is absent or unreadable."""
    try:
        import calendar  # with datetime: only a held lock's age needs it

        return calendar.timegm(time.strptime(since, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return fallback


def acquire_lock(layout, action, who=None, stale_after=3600):
    """Take the lock or fail with who holds it; what killed transfers left goes at once (leftovers.py). Returns
    what it took over (take_over_abandoned), or None."""
    from .leftovers import remove_uploads

    try:
        os.mkdir(layout.lock, 0o755)
    except FileExistsError:
        taken = take_over_abandoned(layout)
        if taken:
            write_info(layout, action, who)
            remove_uploads(layout)
            return taken
        from .lock_guard import live_workers

        info = lock_info(layout) or {}
        held = "%s is locked: %s by %s since %s (%ds ago)" % (layout.path, info.get("action", "a deploy"),
                                                             info.get("who", "someone"), info.get("since", "?"),
                                                             info.get("age", 0))
        working = live_workers(layout.lock)
        if working:  # a task whose fab went away: its work (a migrate) runs on, and the lock is freed after it
            raise ServerError("%s, whose work still runs on the server (process %s): the lock is freed once it ends; "
                              "try again then" % (held, ", ".join(map(str, working))), code=LOCKED) from None
        stale = ", which looks stale" if info.get("age", 0) > stale_after else ""
        raise ServerError("%s%s; run `fab unlock --force` only if no deploy is running" % (held, stale),
                          code=LOCKED) from None
    write_info(layout, action, who)
    remove_uploads(layout)
    return None


def release_lock(layout):
    shutil.rmtree(layout.lock, ignore_errors=True)


def acquire_for(layout, params, action):
    """acquire_lock with the holder and staleness limit the client sent; what it took over, or None."""
    return acquire_lock(layout, action, params.get("who"), params.get("lock_stale_after", 3600))


def hold_as(layout, pid):
    """Name `pid` as the lock's holder (the process that will free it)."""
    path = os.path.join(layout.lock, "info.json")
    try:
        with open(path) as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        info = {}
    info["pid"], info["started"] = pid, started_at(pid)
    write_private(path, json.dumps(info))
