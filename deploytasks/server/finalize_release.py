"""Entry: deploy/rollback, last part: switch `current`, reload, health-check; on success record, prune, log
and unlock; when unhealthy switch back and reload (the caller then unapplies migrations)."""
import os

from .layout import ServerLayout
from .lock import release_lock, utcnow
from .releases import (append_log, current_release, health, prune, prune_venvs, release_meta, run_reload, save_meta,
                       switch_to)


def main(params):
    layout = ServerLayout(params["path"])
    password = params.get("sudo_password")
    release = params["release"]
    previous = current_release(layout)
    switch_to(layout, release)
    problem = run_reload(layout, params.get("reload"), password) or health(
        params.get("healthcheck"), params.get("revision"), params.get("healthcheck_retries", 10),
        params.get("healthcheck_delay", 0.5))
    if problem:
        if previous:
            switch_to(layout, previous)
        else:
            os.unlink(layout.current)
        reload_problem = run_reload(layout, params.get("reload"), password) if previous else None
        return {"status": "unhealthy", "problem": problem, "switched_back_to": previous, "reload_problem": reload_problem}

    meta = release_meta(layout, release)
    meta.update(params.get("meta") or {})
    meta.update({"release": release, "status": "live", "live_since": utcnow()})
    save_meta(layout, release, meta)
    for name in params.get("mark_bad") or []:
        bad = release_meta(layout, name)
        bad.update({"release": name, "status": "bad", "bad_since": utcnow()})
        save_meta(layout, name, bad)
    pruned = prune(layout, params.get("keep_releases", 5), {release, previous})
    pruned_venvs = prune_venvs(layout)
    append_log(layout, dict(params.get("log") or {}, release=release, previous=previous, result="ok"))
    release_lock(layout)
    return {"status": "ok", "previous": previous, "pruned": pruned, "pruned_venvs": pruned_venvs}
