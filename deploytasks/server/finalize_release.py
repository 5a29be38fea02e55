"""Entry: deploy/rollback, last part: switch `current`, reload (or start), health-check; on success record,
prune, log and unlock; when unhealthy switch back and reload (the caller then unapplies migrations)."""
import os
import time
from typing import Union

from . import uv_cache, went_live
from .hooks import after_switch
from .layout import ServerLayout
from .lock import release_lock, utcnow
from .procscan import _stat, other_pids, users_of
from .results import Completed, SwitchBack, Unhealthy
from .releases import (append_log, current_release, health, prune, prune_venvs, release_meta, release_revision, reload_or_start,
                       remove_orphans, save_meta, switch_to)


def first_line(exc):
    text = str(exc).strip()
    return "%s: %s" % (type(exc).__name__, text.splitlines()[0] if text else "")


def switch_and_check(layout, params, release, previous):
    """Switch to `release`, reload (or start) the app server and health-check it: None, or the problem. Any
    exception on the way is a problem too (the caller switches back)."""
    switch_to(layout, release)
    try:
        return (after_switch(params, ("after", "switch"), ("before", "reload")) or reload_or_start(layout, params)
                or health(params.get("healthcheck"), params.get("revision"), params.get("healthcheck_retries", 10),
                          params.get("healthcheck_delay", 0.5))
                or after_switch(params, ("after", "reload")))
    except Exception as exc:  # noqa: BLE001 - whatever failed, the new release is not known to serve
        return first_line(exc)


def switch_back(layout, params, previous) -> SwitchBack:
    """`current` back to `previous` (or removed when there was none), the app server reloaded, and (with a health
    check) waited for until it serves `previous` again: until then workers of the left release may still answer,
    or still be starting from its directory, which the caller is about to remove. When `previous` fails too and
    a shared file (.env) differs from what `previous` went live with, that one is put back and tried (went_live)."""
    if previous:
        switch_to(layout, previous)
    elif os.path.lexists(layout.current):
        os.unlink(layout.current)
    if not previous:
        return {"switched_back_to": previous, "reload_problem": None, "health_problem": None, "put_back": []}
    reload_problem, health_problem = reload_and_check(layout, params, previous)
    put = []
    if reload_problem or health_problem:
        try:
            put = went_live.put_back(layout, params.get("shared_files"))
        except OSError as exc:
            health_problem = "%s; putting back the shared files it went live with failed (%s)" % (
                health_problem or reload_problem, exc)
    if put:
        again = reload_and_check(layout, params, previous)
        if any(again):  # neither works: the pushed files stay, as the user left them
            went_live.take_back(layout, put)
            put = []
        else:
            reload_problem = health_problem = None
    return {"switched_back_to": previous, "reload_problem": reload_problem, "health_problem": health_problem,
            "put_back": [[name, aside] for name, aside in put]}


def reload_and_check(layout, params, release):
    """(reload problem, health problem) of reloading the app server (or starting it) on `release`, live."""
    try:  # `start` when the reload finds nothing to reload: the app server died with the release it left
        reload_problem = reload_or_start(layout, params)
    except Exception as exc:  # noqa: BLE001
        reload_problem = first_line(exc)
    if reload_problem:
        return reload_problem, None
    try:
        return None, health(params.get("healthcheck"), release_revision(layout, release),
                            params.get("healthcheck_retries", 10), params.get("healthcheck_delay", 0.5))
    except Exception as exc:  # noqa: BLE001
        return None, first_line(exc)


def complete(layout, params, release, previous) -> Completed:
    """Record the live release, mark the left one bad (rollback), remove orphans, prune, log, unlock."""
    meta = release_meta(layout, release)
    meta.update(params.get("meta") or {})
    meta.update({"release": release, "status": "live", "live_since": utcnow()})
    meta.pop("bad_since", None)  # live again: no longer bad (releases.log keeps when it was)
    save_meta(layout, release, meta)
    went_live.remember(layout, params.get("shared_files"))
    for name in params.get("mark_bad") or []:
        bad = release_meta(layout, name)
        bad.update({"release": name, "status": "bad", "bad_since": utcnow()})
        save_meta(layout, name, bad)
    old_venv_users = still_on_the_left_venv(layout, release, previous)
    orphans = remove_orphans(layout, {release, previous})
    pruned = prune(layout, params.get("keep_releases", 5), {release, previous})
    pruned_venvs = prune_venvs(layout)
    cache_pruned = prune_uv_cache(layout, params) if pruned_venvs else None
    append_log(layout, dict(params.get("log") or {}, release=release, previous=previous, result="ok"))
    release_lock(layout)
    return {"status": "ok", "previous": previous, "pruned": pruned, "pruned_venvs": pruned_venvs,
            "orphans_removed": orphans, "uv_cache": cache_pruned, "old_venv_users": old_venv_users}


def still_on_the_left_venv(layout, release, previous):
    """[(pid, command line)] of the processes that still run from the left release's venv when the new release
    has another one (an app server a reload kept on its old interpreter); None when the venv did not change."""
    if not previous:
        return None
    old, new = (os.path.realpath(os.path.join(layout.release(name), ".venv")) for name in (previous, release))
    if old == new or not os.path.isdir(old):
        return None
    found = draining(lambda: users_of(old))
    deadline = time.monotonic() + MASTER_EXIT_LIMIT
    while found and all(exiting_master(pid, command) for pid, command in found) and time.monotonic() < deadline:
        time.sleep(0.1)  # a gunicorn master whose workers are gone is shutting down (it took 9 s after a handover)
        found = users_of(old)
    return found


MASTER_EXIT_LIMIT = 30.0  # gunicorn's graceful_timeout: its master is gone by then


def exiting_master(pid, command) -> bool:
    """An app server's master without workers left (a TERMed gunicorn on its way out: a serving one has workers)."""
    if "gunicorn" not in command:
        return False
    return not any((_stat(int(other)) or ("", None))[1] == pid for other in other_pids())


def draining(look, settle=3.0, limit=5.0, interval=0.1):
    """What look() finds once it stops shrinking: processes on their way out (an old gunicorn master a restart sent
    TERM, answering its last requests) are waited for while they leave, up to `limit` seconds; a set that does not
    shrink for `settle` seconds is what stays (on a busy machine a TERMed master's first worker took over a second
    to go: 1 s warned of processes that were leaving)."""
    found, started = look(), time.monotonic()
    changed = started
    while found and time.monotonic() - changed < settle and time.monotonic() - started < limit:
        time.sleep(interval)
        now = look()
        if len(now) < len(found):
            changed = time.monotonic()
        found = now
    return found


def prune_uv_cache(layout, params):
    """What uv_cache.prune_unused removed once venvs were pruned (None: off, or no uv cache); a failure is reported,
    never the deploy's: the release is live by now."""
    cache = params.get("prune_uv_cache", True) and uv_cache.cache_of(layout)
    if not cache:
        return None
    try:
        return uv_cache.prune_unused(cache, os.path.realpath(os.path.join(layout.current, ".venv")))
    except OSError as exc:
        return {"skipped": "pruning failed: %s" % exc}


def main(params) -> Union[Completed, Unhealthy]:
    layout = ServerLayout(params["path"])
    release = params["release"]
    previous = current_release(layout)
    problem = switch_and_check(layout, params, release, previous)
    if problem:
        return dict(switch_back(layout, params, previous), status="unhealthy", problem=problem)
    return complete(layout, params, release, previous)
