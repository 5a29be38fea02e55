"""Entry: small server-side actions: list releases, inspect/clear the lock, clean up a failed deploy, take the
lock, reload."""
import os

from . import early_safety, standby
from . import journal as journals
from .errors import ServerError
from .layout import ServerLayout
from .leftovers import remove_uploads_if_unlocked
from .lock_guard import client_gone, live_workers, session_process, start_guard, wait_for_loads
from .lock import acquire_for, holder_gone, lock_info, release_lock
from .recovery import recover
from .results import Aborted, History, Locked, ReleaseListing, Reloaded, Unlocked
from .releases import (append_log, current_release, read_log, release_names, release_rows, remove_unfinished,
                       run_reload)


def releases(layout, params) -> ReleaseListing:
    current = current_release(layout)
    return {"current": current, "releases": release_rows(layout, current), "lock": held_lock(layout)}


def held_lock(layout):
    """lock_info of a held lock, with whether the process it names has ended (a crash, a kill: the next deploy
    recovers or takes it over); None when it is free."""
    if not os.path.isdir(layout.lock):
        return None
    info = lock_info(layout) or {}
    info["holder_gone"] = holder_gone(info)
    return info


def lock(layout, params) -> Locked:
    session = session_process()  # the client's connection, while it surely is there
    if not os.path.isdir(layout.releases):
        raise ServerError("%s has no releases: run `fab setup` and `fab deploy` first" % layout.path)
    required = params.get("require")  # [path, message]: what the task needs before it may act
    code_from = None
    if required and not os.access(required[0], os.X_OK):
        code_from = params.get("code_fallback") and newest_with_venv(layout)
        if not code_from:
            raise ServerError(required[1])
    recovered = recover(layout, params)
    recovered = acquire_for(layout, params, params.get("what", "rollback")) or recovered
    current = current_release(layout)
    result = {"current": current, "releases": release_rows(layout, current), "recovered": recovered,
              "code_from": code_from, "taking": (lock_info(layout) or {}).get("taking")}
    if params.get("upload"):
        result["upload"] = fresh_upload_path(params["upload"])
    # a PostgreSQL restore's safety dump, taken while the upload arrives: started before the guard, as work under
    # the lock the guard waits for (started after it, the guard could free the lock before the dump marked itself)
    early = early_safety.start(layout, params["early_safety"]) if params.get("early_safety") else None
    if params.get("upload") or params.get("guard"):
        result["guard"] = start_guard(layout)  # frees the lock should the client vanish (lock_guard.py)
        # no guard: the client vanished already (its sshd gone since we looked, or before this command could look:
        # no sshd to find, and nobody reads the answer); nobody would free the lock
        if result["guard"] is None and (session is not None or client_gone()):
            if early is not None:
                early_safety.stop_started(early)
                early_safety.discard(layout.lock)
            release_lock(layout)
            raise ServerError("the client went away while the lock was taken")
    return result


def newest_with_venv(layout):
    """The newest release directory with a working venv (the project's code when nothing is live), or None."""
    for name in reversed(release_names(layout)):
        if os.access(os.path.join(layout.release(name), ".venv", "bin", "python"), os.X_OK):
            return layout.release(name)
    return None


def fresh_upload_path(wanted):
    """A path for an upload: its directory made private, a name no earlier upload has."""
    directory, name = os.path.split(wanted)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    stem, ext = os.path.splitext(name)
    candidate, counter = name, 1
    while any(os.path.exists(os.path.join(directory, candidate + suffix)) for suffix in ("", ".json", ".partial")):
        counter += 1
        candidate = "%s-%d%s" % (stem, counter, ext)
    return os.path.join(directory, candidate)


def unlock(layout, params) -> Unlocked:
    info = lock_info(layout) if os.path.isdir(layout.lock) else None
    journal = journals.read(layout) if info else None
    if info is not None and journal:
        info["deploy"] = {"release": journal.get("release"), "phase": journal.get("phase"),
                          "running": journals.running(journal)}
        if params.get("force") and journals.running(journal):
            raise ServerError("the deploy of %s is running (process %s, %s): it frees the lock itself when it ends "
                              "or undoes itself" % (journal.get("release"), journal.get("pid"), journal.get("phase")))
    working = live_workers(layout.lock) if info is not None else []
    if params.get("force") and working:  # freed now, another task would start under that work
        raise ServerError("work under the lock still runs (process %s, %s by %s): it frees the lock when it ends; "
                          "stop that process first if it must not finish" % (
                              ", ".join(map(str, working)), info.get("action", "a task"), info.get("who", "someone")))
    recovered = recover(layout, params) if info and params.get("force") else None
    if info and params.get("force"):
        early_safety.discard(layout.lock)
        release_lock(layout)
    removed = remove_uploads_if_unlocked(layout, params.get("who")) if params.get("force") else []
    return {"lock": info, "removed": bool(info and params.get("force")), "recovered": recovered, "leftovers": removed}


def abort(layout, params) -> Aborted:
    """End a task's hold of the lock: its unfinished release removed, its log entry written, the lock released;
    with `taking` (the lock call's token), only that taking: one taken over since (its holder died) is left."""
    held = lock_info(layout) if params.get("taking") else None
    lost = held is not None and held.get("taking") != params["taking"]
    if not lost:
        standby.dismiss()  # asked in the deploy's command: the release's Django it started ends, then the release goes
        remove_unfinished(layout, params.get("release"))
    if params.get("log") and not logged_when_freed(params, held):
        try:
            append_log(layout, dict(params["log"], result=params.get("result", "failed")))
        except OSError:  # a full disk: the lock goes all the same
            pass
    if lost:
        return {"aborted": None, "lost_lock": "%s by %s since %s" % (held.get("action"), held.get("who"),
                                                                       held.get("since"))}
    early_safety.discard(layout.lock)  # a restore that stopped before its safety dump: its early one goes too
    if not wait_for_loads(layout.lock):  # a restore's load still running on its own: it ends before the lock
        raise ServerError("work under the lock %s is still running after an hour: `fab unlock` once it ended"
                          % layout.lock)
    release_lock(layout)
    return {"aborted": params.get("release")}


def logged_when_freed(params, held) -> bool:
    """A restore's hold the lock no longer is: its server side restored, logged its result and freed the lock (or its
    guard logged it abandoned) before the client, interrupted or cut off meanwhile, asked to end it; a `failed`
    entry of the client's then stood above the restore's `ok` in `fab history`."""
    return bool(params.get("taking")) and held is None and (params.get("log") or {}).get("action") == "restore"


def reload(layout, params) -> Reloaded:
    problem = run_reload(layout, params.get("reload"), params.get("sudo_password"), params.get("reload_timeout", 60))
    if problem:
        raise ServerError(problem)
    return {"reloaded": True}


def history(layout, params) -> History:
    """The newest `last` entries of releases.log, newest first: deploys (failed ones too), rollbacks, restores,
    migrations."""
    return {"entries": list(reversed(read_log(layout, last=params.get("last", 20)))), "lock": held_lock(layout)}


ACTIONS = {"releases": releases, "history": history, "lock": lock, "unlock": unlock, "abort": abort,
           "reload": reload}


def main(params):
    action = params["action"]
    if action not in ACTIONS:
        raise ServerError("unknown action %r" % action)
    return ACTIONS[action](ServerLayout(params["path"]), params)
