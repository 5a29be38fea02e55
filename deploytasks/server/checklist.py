"""The pre-deployment checklist: one verdict per item, from one introspection (the `introspect` entry's answer).
Standard library only: `inv check`/`fab check` show it and the deploy's predeploy step is gated by it."""

from .safety_items import items as safety_items

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


def pending(info) -> list:
    """app.name of every migration the introspected database has not applied."""
    return [
        "%s.%s" % (app, m["name"])
        for app, data in info["apps"].items()
        for m in data["migrations"]
        if not m["is_applied"]
    ]


def items(info) -> list:
    """[{item, verdict, detail}] for migration status, model changes, system checks, plan, conflicts."""
    result = []
    database = info["database"]
    if not database.get("reachable", True):
        result.append({"item": "database", "verdict": FAIL,
                       "detail": f"cannot read {database['vendor']} database {database['name']}: {database.get('error')}"})

    waiting = pending(info)
    applied = sum(1 for data in info["apps"].values() for m in data["migrations"] if m["is_applied"])
    if waiting:
        live = info.get("live")  # the code that serves now: it needs them already (a restore of older data)
        result.append({"item": "migrations", "verdict": FAIL if live else WARN,
                       "detail": f"{applied} applied, {len(waiting)} pending: {', '.join(waiting[:5])}"
                                 + (" …" if len(waiting) > 5 else "")
                                 + (": the live code needs them, `fab migrate` applies them" if live else "")})
    else:
        result.append({"item": "migrations", "verdict": PASS, "detail": f"{applied} applied, none pending"})
    if info.get("unknown_applied"):
        result.append({"item": "unknown migrations", "verdict": WARN,
                       "detail": "applied in the database but not in the code: " + ", ".join(info["unknown_applied"])
                       + " (a newer release's, or migrations a squash replaced and that were deleted since: "
                         "`manage.py migrate --prune` drops their rows)"})

    if info.get("other_databases"):
        result.append(other_databases_item(info["database"]["alias"], info["other_databases"]))

    lock = info.get("lock")
    if lock:
        result.append({"item": "uv lock", "verdict": PASS if lock["ok"] else FAIL, "detail": lock["detail"]})

    health = info.get("health")
    if health:
        problem = health["problem"] or "200"
        if problem.startswith(health["url"] + ": "):  # the URL once
            problem = problem[len(health["url"]) + 2:]
        if "Connection refused" in problem:
            problem += (" (nothing listens there: the app server is down, after a reboot say; `fab deploy --again` "
                        "runs the reload command, which starts init's deploy/gunicorn.sh)")
        result.append({"item": "health check", "verdict": FAIL if health["problem"] else PASS,
                       "detail": "GET %s: %s" % (health["url"], problem)})

    if "changes_error" in info:
        result.append({"item": "model changes", "verdict": FAIL, "detail": info["changes_error"]})
    elif info.get("changes"):
        apps = ", ".join(sorted(info["changes"]))
        result.append({"item": "model changes", "verdict": FAIL,
                       "detail": f"models changed without migrations in {apps}: run `manage.py makemigrations`"})
    else:
        result.append({"item": "model changes", "verdict": PASS, "detail": "no changes outside migrations"})

    messages = info.get("checks", [])
    errors = [m for m in messages if m["level"] == "error"]
    warnings = [m for m in messages if m["level"] == "warning"]
    if errors:
        result.append({"item": "check --database", "verdict": FAIL,
                       "detail": f"{len(errors)} error(s): " + "; ".join(m["message"].splitlines()[0] for m in errors[:3])})
    elif warnings:
        result.append({"item": "check --database", "verdict": WARN,
                       "detail": f"{len(warnings)} warning(s): " + "; ".join(m["id"] for m in warnings[:5])})
    else:
        result.append({"item": "check --database", "verdict": PASS, "detail": "no issues"})

    if info["conflicts"]:
        described = "; ".join(f"{app}: {', '.join(names)}" for app, names in info["conflicts"].items())
        result.append({"item": "conflicts", "verdict": FAIL,
                       "detail": f"several leaf migrations ({described}): run `manage.py makemigrations --merge`"})
    else:
        result.append({"item": "conflicts", "verdict": PASS, "detail": "one leaf per app"})

    plan = info.get("plan")
    if plan is None:
        result.append({"item": "migrate --plan", "verdict": WARN if info["conflicts"] or not database.get("reachable", True) else PASS,
                       "detail": "not computed"})
    elif not plan:
        result.append({"item": "migrate --plan", "verdict": PASS, "detail": "nothing to run"})
    else:
        irreversible = [f"{p['app']}.{p['name']}" for p in plan if not p["reversible"]]
        detail = f"{len(plan)} to run: " + ", ".join(f"{p['app']}.{p['name']}" for p in plan[:4]) + (" …" if len(plan) > 4 else "")
        if irreversible:
            detail += f" (irreversible: {', '.join(irreversible)})"
        result.append({"item": "migrate --plan", "verdict": WARN if irreversible else PASS, "detail": detail})
    return result + safety_items(info)


def other_databases_item(alias, others) -> dict:
    """The "other databases" item: DATABASES aliases deploytasks neither migrates nor backs up. A WARN when a
    router lets migrations create tables there (the project's to migrate and back up), else a PASS saying so."""
    migrated = [other for other in others if other["apps"]]
    described = []
    for other in others:
        apps = other["apps"]
        shown = "tables of " + ", ".join(apps[:4]) + (" …" if len(apps) > 4 else "") if apps \
            else "no migrated tables: the routers allow none"
        described.append(f"{other['alias']} ({shown})")
    detail = (f"DATABASES also has {'; '.join(described)}: deploytasks migrates, rehearses, backs up and restores only "
              f"{alias!r}")
    if not migrated:
        return {"item": "other databases", "verdict": PASS, "detail": detail}
    name = migrated[0]["alias"]
    return {"item": "other databases", "verdict": WARN,
            "detail": detail + f"; migrating and backing up {', '.join(other['alias'] for other in migrated)} is the "
                               f"project's (`manage.py migrate --database {name}`, on a server "
                               f"`fab manage \"migrate --database {name}\"`)"}


def failed(verdicts) -> bool:
    return any(item["verdict"] == FAIL for item in verdicts)
