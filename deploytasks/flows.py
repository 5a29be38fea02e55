"""Task-level building blocks shared by the local (Invoke) and remote (Fabric) collections."""
import time

from .checklist import items as checklist_items, pending
from .migration_graph import status_rows
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


def checked(report) -> str:
    """What verified a backup, as its manifest or a restore check names it."""
    return {"PRAGMA integrity_check": "integrity_check"}.get(report.get("verified"), report.get("verified") or "integrity_check")


def show_held_deploy(deploy, recovered):
    """What `fab unlock` says about the deploy holding the lock (from its journal) and a recovery it made."""
    if deploy:
        state = "running" if deploy.get("running") else "its process is gone"
        console.print(f"  deploy of {deploy.get('release')}, at {deploy.get('phase')}: {state}", highlight=False)
    if recovered:
        console.print(f"[yellow]![/] {recovered}", highlight=False)
