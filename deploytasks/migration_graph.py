"""Migration-graph logic as pure functions over an introspection (`{"apps": {label: {"migrations": [...]}}}`):
where a target lies, what going back unapplies, what state a database or a backup is at."""
from .errors import DeployTasksError


def applied_state(info) -> dict:
    """{app: [applied migration names]} from an introspection."""
    return {
        app: [m["name"] for m in data["migrations"] if m["is_applied"]]
        for app, data in info["apps"].items()
    }


def state_summary(info):
    """{app: latest applied migration, or "zero"}."""
    return {app: (names[-1] if names else "zero") for app, names in applied_state(info).items()}


def latest_migrations(manifest):
    """{app: latest applied migration} of a backup, by name: migration names start with their number, and a
    squashed migration (recorded after the later ones it replaced) must not pass for the latest."""
    return {app: max(names) for app, names in manifest.get("migrations", {}).items() if names}


def status_rows(info):
    """Per app: migration files, applied, pending, leaf and conflicts (what `migrations.status` shows)."""
    rows = []
    for app, data in info["apps"].items():
        migrations = data["migrations"]
        applied = sum(1 for m in migrations if m["is_applied"])
        rows.append({
            "app": app,
            "files": len(migrations),
            "applied": applied,
            "pending": len(migrations) - applied,
            "leaf": ", ".join(data["leaves"]),
            "conflicts": ", ".join(data["conflicts"]) or "",
        })
    return rows


def resolve_target(info, app, target, cli="inv"):
    """Validate `migrate APP TARGET`; returns (full name or 'zero', direction). `cli` names the program in the hint."""
    apps = info["apps"]
    if app not in apps:
        known = ", ".join(sorted(apps)) or "none"
        raise DeployTasksError(f"no app labelled {app!r} with migrations (apps with migrations: {known})")
    names = [m["name"] for m in apps[app]["migrations"]]
    applied = [m["name"] for m in apps[app]["migrations"] if m["is_applied"]]
    if target is None:
        return None, "forwards"
    if target == "zero":
        return "zero", "backwards" if applied else "none"
    matches = [name for name in names if name == target or name.startswith(target)]
    if target in names:
        matches = [target]
    if not matches:
        raise DeployTasksError(
            f"{app} has no migration {target!r}: run `{cli} migrations.status` to see its migrations"
        )
    if len(matches) > 1:
        raise DeployTasksError(f"{target!r} matches several {app} migrations ({', '.join(matches)}): be more specific")
    name = matches[0]
    position = names.index(name)
    later_applied = [n for n in names[position + 1:] if n in applied]
    if later_applied:
        return name, "backwards"
    if name in applied:
        return name, "none"
    return name, "forwards"


def unapply_list(info, app, target):
    """What migrating `app` back to `target` unapplies, as Django does it: the app's later applied
    migrations and every applied migration (in any app) that depends on them; in reverse graph order (a
    squashed migration Django records after the ones it replaced still comes before what depends on it)."""
    by_key = {f"{label}.{m['name']}": m for label, data in info["apps"].items() for m in data["migrations"]}
    names = [m["name"] for m in info["apps"][app]["migrations"]]
    cut = 0 if target == "zero" else names.index(target) + 1
    pending = [f"{app}.{name}" for name in names[cut:]]
    found = set()
    while pending:
        key = pending.pop()
        if key not in found and key in by_key:
            found.add(key)
            pending.extend(by_key[key].get("children", []))
    applied = [key for key in found if by_key[key]["is_applied"]]
    if all("order" in by_key[key] for key in applied):
        return sorted(applied, key=lambda key: by_key[key]["order"], reverse=True), by_key
    return sorted(applied, key=lambda key: (by_key[key]["applied"] or "", key), reverse=True), by_key


def guard_backwards(info, app, target):
    """Raise if a migration to unapply is irreversible; returns the app.name list to unapply."""
    to_unapply, by_key = unapply_list(info, app, target)
    irreversible = [key for key in to_unapply if not by_key[key]["reversible"]]
    if irreversible:
        raise DeployTasksError(
            f"{irreversible[0]} is irreversible, so {app} cannot migrate back to {target}: "
            "restore a backup taken before it instead"
        )
    return to_unapply
