# Deploy/rollback, last part, on the server: switch `current`, reload, health-check; on success record,
# prune, log and unlock; when unhealthy switch back and reload (the caller then unapplies migrations).
P = PARAMS
release = P["release"]
previous = current_release()
switch_to(release)
problem = run_reload(P.get("reload")) or health(P.get("healthcheck"), P.get("revision"),
                                                P.get("healthcheck_retries", 10), P.get("healthcheck_delay", 0.5))
if problem:
    if previous:
        switch_to(previous)
    else:
        os.unlink(CURRENT)
    reload_problem = run_reload(P.get("reload")) if previous else None
    emit({"status": "unhealthy", "problem": problem, "switched_back_to": previous, "reload_problem": reload_problem})
    raise SystemExit(0)

meta = release_meta(release)
meta.update(P.get("meta") or {})
meta.update({"release": release, "status": "live", "live_since": utcnow()})
save_meta(release, meta)
for name in P.get("mark_bad") or []:
    bad = release_meta(name)
    bad.update({"release": name, "status": "bad", "bad_since": utcnow()})
    save_meta(name, bad)
pruned = prune(P.get("keep_releases", 5), {release, previous})
pruned_venvs = prune_venvs()
append_log(dict(P.get("log") or {}, release=release, previous=previous, result="ok"))
release_lock()
emit({"status": "ok", "previous": previous, "pruned": pruned, "pruned_venvs": pruned_venvs})
