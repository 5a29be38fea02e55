# Small server-side actions: list releases, inspect/clear the lock, clean up a failed deploy, take the lock.
P = PARAMS
action = P["action"]
if action == "releases":
    current = current_release()
    rows = []
    for name in release_names():
        meta = release_meta(name)
        meta["release"] = name
        meta["current"] = name == current
        rows.append(meta)
    emit({"current": current, "releases": rows, "lock": lock_info() if os.path.isdir(LOCK) else None})
elif action == "lock":
    if not os.path.isdir(RELEASES):
        fail("%s has no releases: run `fab setup` and `fab deploy` first" % ROOT)
    required = P.get("require")  # [path, message]: what the task needs before it may act
    if required and not os.access(required[0], os.X_OK):
        fail(required[1])
    acquire_lock(P.get("what", "rollback"))
    current = current_release()
    result = {"current": current, "releases": [dict(release_meta(n), release=n, current=n == current) for n in release_names()]}
    if P.get("upload"):  # a path for an upload: its directory made private, a name no earlier upload has
        directory, name = os.path.split(P["upload"])
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        stem, ext = os.path.splitext(name)
        candidate, counter = name, 1
        while any(os.path.exists(os.path.join(directory, candidate + suffix)) for suffix in ("", ".json", ".partial")):
            counter += 1
            candidate = "%s-%d%s" % (stem, counter, ext)
        result["upload"] = os.path.join(directory, candidate)
    emit(result)
elif action == "unlock":
    info = lock_info() if os.path.isdir(LOCK) else None
    if info and P.get("force"):
        release_lock()
    emit({"lock": info, "removed": bool(info and P.get("force"))})
elif action == "abort":
    remove_release(P.get("release"))
    if P.get("log"):
        append_log(dict(P["log"], result=P.get("result", "failed")))
    release_lock()
    emit({"aborted": P.get("release")})
elif action == "reload":
    problem = run_reload(P.get("reload"))
    if problem:
        fail(problem)
    emit({"reloaded": True})
else:
    fail("unknown action %r" % action)
