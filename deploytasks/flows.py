"""Task-level building blocks shared by the local (Invoke) and remote (Fabric) collections."""
import time

from .checklist import items as checklist_items, pending
from .django import applied_state
from .errors import DeployTasksError
from .output import console, print_json, show, table


def timed_steps(steps):
    """Run (name, callable) pairs, returning rows of (name, result, seconds)."""
    rows = []
    for name, step in steps:
        started = time.monotonic()
        with console.status(f"{name} …"):
            outcome = step()
        rows.append((name, outcome, f"{time.monotonic() - started:.1f}s"))
        console.print(f"[green]✓[/] {name}: {outcome}")
    return rows


def show_checklist(info, as_json, title):
    """One checklist as a table (or JSON); raises when an item failed."""
    show_checklists([("checklist", title, info)], as_json)


def show_checklists(sections, as_json):
    """Several (key, title, introspection) checklists; with more than one, JSON is an object by key.
    Raises if any failed."""
    results = [(key, title, checklist_items(info)) for key, title, info in sections]
    failed = [title for _, title, verdicts in results if any(v["verdict"] == "FAIL" for v in verdicts)]
    if as_json:
        documents = {key: {"title": title, "items": verdicts, "ok": title not in failed}
                     for key, title, verdicts in results}
        print_json(next(iter(documents.values())) if len(results) == 1 else documents)
    else:
        colour = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}
        for _, title, verdicts in results:
            show(table(title, ["check", "verdict", "detail"],
                       [(v["item"], f"[{colour[v['verdict']]}]{v['verdict']}[/]", v["detail"]) for v in verdicts]))
    if failed:
        raise DeployTasksError(f"the checklist has failures in {', '.join(failed)} (see the FAIL rows)")


def status_rows(info):
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


def show_status(info, as_json, title="Migrations"):
    rows = status_rows(info)
    if as_json:
        print_json({"database": info["database"], "apps": rows, "pending": pending(info), "conflicts": info["conflicts"]})
        return
    show(table(title, ["app", "files", "applied", "pending", "leaf", "conflicts"],
               [(r["app"], r["files"], r["applied"], r["pending"] or "-", r["leaf"], r["conflicts"] or "-") for r in rows]))


def show_plan(info, as_json):
    plan = info.get("plan") or []
    if as_json:
        print_json({"plan": plan})
        return
    if not plan:
        console.print("No migrations to apply.")
        return
    show(table("migrate --plan", ["#", "migration", "reversible", "operations"],
               [(i + 1, f"{p['app']}.{p['name']}", "yes" if p["reversible"] else "[red]no[/]",
                 "; ".join(p["operations"])[:120]) for i, p in enumerate(plan)]))


def show_history(info, as_json, app=None):
    rows = [
        {"app": name, "migration": m["name"], "applied": m["applied"]}
        for name, data in info["apps"].items() if app in (None, name)
        for m in data["migrations"] if m["is_applied"]
    ]
    rows.sort(key=lambda r: (r["applied"] or "", r["app"], r["migration"]))
    if as_json:
        print_json({"history": rows})
        return
    show(table("Applied migrations", ["applied at (UTC)", "app", "migration"],
               [((r["applied"] or "?")[:19].replace("T", " "), r["app"], r["migration"]) for r in rows]))


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


def checked(report) -> str:
    """What verified a backup, as its manifest or a restore check names it."""
    return {"PRAGMA integrity_check": "integrity_check"}.get(report.get("verified"), report.get("verified") or "integrity_check")


def state_summary(info):
    return {app: (names[-1] if names else "zero") for app, names in applied_state(info).items()}


def show_held_deploy(deploy, recovered):
    """What `fab unlock` says about the deploy holding the lock (from its journal) and a recovery it made."""
    if deploy:
        state = "running" if deploy.get("running") else "its process is gone"
        console.print(f"  deploy of {deploy.get('release')}, at {deploy.get('phase')}: {state}", highlight=False)
    if recovered:
        console.print(f"[yellow]![/] {recovered}", highlight=False)
