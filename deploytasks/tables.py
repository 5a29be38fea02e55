"""Every table the tasks print (with the JSON some print instead): checklists, migrations, setup steps,
backups, releases, a restore's migration state."""
import os

from .checklist import items as checklist_items, pending
from .errors import DeployTasksError
from .media import described as described_media
from .migration_graph import latest_migrations, status_rows
from .output import console, print_json, show, table


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


def backups_table(title, rows):
    """`inv backups`: the listing rows of the local backup directory."""
    grid = table(title, ["file", "created (UTC)", "engine", "size", "sha256", "migrations"], [
        (
            os.path.basename(r["path"]) + ("" if r.get("present", True) else " [red](missing)[/]"),
            r.get("created", "?").replace("T", " ").rstrip("Z"),
            r.get("engine", "?"),
            f"{r.get('size', 0):,}",
            r.get("sha256", "")[:12] + {True: " ok", False: " [red]MISMATCH[/]"}.get(r.get("sha256_ok"), ""),
            ", ".join(f"{app} {name[:4]}" for app, name in sorted(latest_migrations(r).items())
                      if app not in ("admin", "auth", "contenttypes", "sessions")) or "-",
        )
        for r in rows
    ])
    grid.columns[0].no_wrap = True  # the name is what `inv restore` takes: never cut it
    grid.columns[0].min_width = max(len(os.path.basename(r["path"])) for r in rows)
    return grid


def show_releases(info, as_json, host, path):
    """`fab releases` of one host: newest first, the live one and bad ones marked, and who holds the lock
    (or the listing as JSON)."""
    if as_json:
        print_json(dict(info, host=host))
        return
    rows = []
    for r in reversed(info["releases"]):
        marks = ("[green]current[/]" if r["current"] else "") + (" [red]bad[/]" if r.get("status") == "bad" else "")
        rows.append((r["release"], (r.get("revision") or "?")[:12], (r.get("deployed_at") or "?").replace("T", " ").rstrip("Z"),
                     r.get("by", "?"), "yes" if r.get("migrations_changed") else "no", marks.strip()))
    show(table(f"Releases on {host}:{path}", ["release", "revision", "deployed at (UTC)", "by", "migrations", ""], rows))
    lock = info.get("lock")
    if lock:
        console.print(f"[yellow]locked[/]: {lock.get('action')} by {lock.get('who')} since {lock.get('since')}")


def server_backups_table(title, remote, local):
    """`fab backups`: the server's backups (listing rows) and the local copies ({file: manifest}) side by side."""
    names = sorted({r["file"] for r in remote} | set(local), reverse=True)
    by_name = {r["file"]: r for r in remote}
    rows = []
    for name in names:
        entry = by_name.get(name) or local.get(name)
        rows.append((name, entry.get("created", "?").replace("T", " ").rstrip("Z"), f"{entry.get('size', 0):,}",
                     described_media(entry), "yes" if name in by_name else "-", "yes" if name in local else "-"))
    grid = table(title, ["file", "created (UTC)", "size", "media", "server", "local"], rows)
    grid.columns[0].no_wrap = True  # the name is what `fab restore` takes: never cut it
    return grid


def steps_table(title, rows):
    """`inv setup`: (step, result, time) rows."""
    return table(title, ["step", "result", "time"], rows)


def describe_restore(report):
    """A backup's migration state against the code it is restored under; returns the apps it is behind in."""
    comparison = report["migrations"]
    rows = []
    behind = []
    for app, state in comparison.items():
        note = "same as code"
        if state["unknown"]:
            note = f"[red]{len(state['unknown'])} unknown to this code[/]"
        elif state["missing"]:
            note = f"[yellow]{len(state['missing'])} to apply[/]"
            behind.append(app)
        rows.append((app, state["backup_latest"] or "zero", state["code_latest"] or "-", note))
    show(table("Migration state: backup vs code", ["app", "backup at", "code at", "after restore"], rows))
    return behind
