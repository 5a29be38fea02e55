"""Every table the tasks print (with the JSON some print instead): checklists, migrations, setup steps,
backups, releases (one host or a fleet), a restore's migration state, a deploy's plan, a fleet's outcome."""
import os
from typing import Dict

from rich.markup import escape

from .checklist import items as checklist_items, pending
from .errors import DeployTasksError
from .media import described as described_media
from .lint_output import report_lint
from .migration_graph import latest_migrations, status_rows
from .output import console, print_json, show, table
from .server.results import History, ReleaseListing
from .step_result import marked

VERDICT_COLOUR = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


def verdict_row(item):
    """(check, coloured verdict, detail) of a checklist item; the detail is the server's text, never markup (a
    lint rule in brackets, `[irreversible]`, would be taken for a style)."""
    return item["item"], f"[{VERDICT_COLOUR[item['verdict']]}]{item['verdict']}[/]", escape(item["detail"])


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
        for _, title, verdicts in results:
            show(table(title, ["check", "verdict", "detail"], [verdict_row(v) for v in verdicts]))
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


def show_releases(info: ReleaseListing, as_json, host, path):
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
    show_lock(info.get("lock"))


def show_lock(lock):
    """Who holds the deploy lock, under a listing of the server (nothing when it is free)."""
    if lock:
        console.print(f"[yellow]locked[/]: {lock.get('action')} by {lock.get('who')} since {lock.get('since')}"
                      + (f" (its process {lock.get('pid')} is gone: the next deploy recovers what it left and takes "
                         "the lock; `fab unlock` shows it)" if lock.get("holder_gone") else ""), highlight=False)


def show_server_history(info: History, as_json, host, path):
    """`fab history`: what releases.log recorded, newest first (or the entries as JSON)."""
    if as_json:
        print_json(dict(info, host=host))
        return
    rows = [(str(e.get("time") or "?").replace("T", " ").rstrip("Z"), str(e.get("action", "?")),
             escape(logged_subject(e)), str(e.get("by", "?")), str(e.get("result", "?")), escape(logged_detail(e)))
            for e in info["entries"]]
    show(table(f"History of {host}:{path} (releases.log, newest first)",
               ["time (UTC)", "action", "what", "by", "result", "detail"], rows))
    show_lock(info.get("lock"))


def logged_subject(entry) -> str:
    """What a releases.log entry was about: the release (from the previous one), the file restored, the
    migrations applied."""
    action = entry.get("action")
    if action == "restore":
        return str(entry.get("file") or "?")
    if action == "migrate":
        return ", ".join(map(str, entry.get("migrations") or [])) or "no migrations"
    release = str(entry.get("release") or "?")
    revision = f" ({str(entry['revision'])[:12]})" if entry.get("revision") else ""
    return (f"{entry['previous']} → {release}" if entry.get("previous") else release) + revision


def logged_detail(entry) -> str:
    detail = str(entry.get("error") or entry.get("summary") or "")
    backup = entry.get("backup") or entry.get("safety_backup")
    if backup:
        detail += ("; " if detail else "") + f"backup {os.path.basename(str(backup))}"
    return detail


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
    """`inv setup`: (step, result, time) rows, each result coloured by its status (done, kept, skipped, dry)."""
    return table(title, ["step", "result", "time"], [(name, marked(outcome), seconds) for name, outcome, seconds in rows])


def describe_restore(report):
    """A backup's migration state against the code it is restored under; returns the apps it is behind in."""
    comparison = report["migrations"]
    rows = []
    behind = []
    for app, state in comparison.items():
        notes = []
        if state["unknown"]:
            notes.append(f"[red]{len(state['unknown'])} unknown to this code[/]")
        if state["missing"]:
            notes.append(f"[yellow]{len(state['missing'])} to apply[/]")
            behind.append(app)
        latest = (f"{state['unknown'][-1]} (unknown)" if state["unknown"] and not state["missing"]
                  else state["backup_latest"] or "zero")  # a backup ahead of the code: where it really is
        rows.append((app, latest, state["code_latest"] or "-", ", ".join(notes) or "same as code"))
    show(table("Migration state: backup vs code", ["app", "backup at", "code at", "after restore"], rows))
    others = report.get("other_databases")
    if others:
        console.print(f"[yellow]WARN[/] only {report['database']['alias']!r} is restored; {', '.join(others)} "
                      f"{'keeps its' if len(others) == 1 else 'keep their'} current data (deploytasks backs up and "
                      "restores one database: the others may now hold data of another time)",
                      highlight=False, soft_wrap=True)
    return behind


def collectstatic_said(collectstatic) -> str:
    """What the plan's static row adds about the deploy's collectstatic (none from a server of an older version)."""
    if not collectstatic:
        return ""
    return ("; collectstatic runs: " if collectstatic["runs"] else "; collectstatic skipped: ") + collectstatic["why"]


def deploy_plan_rows(document):
    """The summary rows of `fab plan` (what, detail) and the migrations it would apply."""
    live = document["live"]
    rows = [("revision", f"{document['asked']} @ {document['revision'][:12]}"
             + (f" (live: {live['release']} @ {(live['revision'] or '?')[:12]})" if live["release"] else " (first deploy)"))]
    diff = document.get("revision_diff")
    if diff and "error" in diff:
        rows.append(("commits", f"unknown: {diff['error']}"))
    elif diff:
        rows.append(("commits", f"{len(diff['commits'])} commit(s), {diff['files_changed']} file(s) changed"))
    requirements = document["requirements"]
    changes = [f"+{x}" for x in requirements["added"]] + [f"-{x}" for x in requirements["removed"]] \
        + [f"~{x}" for x in requirements["changed"]]
    venv = document["venv"]
    rows.append(("venv", ("reuse " if venv["action"] == "reuse" else "build ") + venv["path"].rsplit("/", 1)[-1]
                 + (f": {', '.join(changes)}" if changes else "")))
    pending = [step for step in document["introspection"].get("plan") or [] if not step["backwards"]]
    rows.append(("migrations", f"{len(pending)} to apply" if pending else "none to apply"))
    static = document.get("static") or {}
    if "skipped" in static:
        rows.append(("static files", f"not compared: {static['skipped']}"))
    elif static:
        rows.append(("static files", f"{len(static['new'])} new, {len(static['changed'])} changed of {static['files']}"
                     + collectstatic_said(static.get("collectstatic"))))
    if document.get("hooks"):
        rows.append(("hooks", "; ".join(document["hooks"])))
    verdict = "FAIL" if not document["ok"] else "WARN" if any(i["verdict"] == "WARN" for i in document["checklist"]) else "PASS"
    rows.append(("checklist", f"[{VERDICT_COLOUR[verdict]}]{verdict}[/]"))
    return rows, pending


def show_deploy_plan(document, as_json) -> None:
    """`fab plan`: the plan as tables (or JSON); raises when the checklist has a failure (the deploy would stop)."""
    if as_json:
        print_json(document)
    else:
        rows, pending = deploy_plan_rows(document)
        built = (document.get("venv") or {}).get("action") == "build"
        said = ("the plan changed nothing live; what a dead deploy left was recovered first, above"
                if document.get("recovered") else "nothing live was changed")
        show(table(f"Deploy plan for {document['host']} ({said}"
                   + ("; the venv it built is kept for the deploy)" if built else ")"), ["what", "detail"], rows))
        commits = (document.get("revision_diff") or {}).get("commits") or []
        if commits:
            show(table("Commits", ["commit"], [(line,) for line in commits[:20]]
                       + ([(f"… {len(commits) - 20} more",)] if len(commits) > 20 else [])))
        findings = {}
        for finding in (document["introspection"].get("lint") or {}).get("findings", []):
            findings.setdefault(finding["migration"], []).append(finding["rule"])
        if pending:
            show(table("Migrations, in order", ["migration", "operations", "reversible", "lint"], [
                (f"{s['app']}.{s['name']}", "; ".join(s["operations"]), "yes" if s["reversible"] else "[red]no[/]",
                 ", ".join(findings.get(f"{s['app']}.{s['name']}", [])) or "-") for s in pending]))
            own = [step for step in pending if step["app"] not in DJANGOS_OWN_APPS]
            for step in own:
                console.print(f"[bold]-- {step['app']}.{step['name']}[/]\n{step.get('sql') or '-- no SQL'}",
                              highlight=False, soft_wrap=True)
            if len(own) < len(pending):  # a first deploy's 18+ of them: hundreds of lines nobody reviews
                console.print(f"[dim]-- the SQL of Django's own apps' {len(pending) - len(own)} migration(s) is not "
                              "shown (`fab plan --json` has it)[/]", highlight=False, soft_wrap=True)
        report_lint(document["introspection"].get("lint"))  # why each flagged operation is unsafe, what instead
        show(table("Checklist of the new release", ["check", "verdict", "detail"],
                   [verdict_row(i) for i in document["checklist"]]))
    if not document["ok"]:
        raise DeployTasksError("the deploy would stop: the checklist has failures (see the FAIL rows)")


DJANGOS_OWN_APPS = {"admin", "auth", "contenttypes", "sessions", "sites", "flatpages", "redirects", "messages",
                    "staticfiles"}  # the labels of django.contrib's apps with migrations


def show_fleet_outcome(title, hosts, as_json, extra=None):
    """`fab -H a,b deploy`/`rollback`: per host {host, phase, release, seconds, result, error} as the closing
    table, or with `extra` as one JSON document."""
    if as_json:
        print_json(dict(extra or {}, hosts=hosts))
        return
    colour = {"ok": "green", "live": "green"}
    rows = [(h["host"], h["phase"], h["release"] or "-", f"{h['seconds']:.1f}s",
             f"[{colour.get(h['result'], 'red')}]{h['result']}[/]" + (f": {h['error']}" if h["error"] else ""))
            for h in hosts]
    show(table(title, ["host", "phase", "release", "time", "result"], rows))


def show_fleet_releases(listings: Dict[str, ReleaseListing], as_json):
    """`fab -H a,b releases`: each host's listing ({host: ReleaseListing}) side by side, locks and drift (hosts
    not on the same live release) flagged, or all as JSON. Returns {host: its live release}."""
    currents = {name: info["current"] for name, info in listings.items()}
    drift = len(set(currents.values())) > 1
    if as_json:
        print_json({"hosts": listings, "current": currents, "drift": drift})
        return currents
    by_release = {}
    for name, info in listings.items():
        for row in info["releases"]:
            by_release.setdefault(row["release"], {})[name] = row
    rows = []
    for release in sorted(by_release, reverse=True):
        first = next(iter(by_release[release].values()))
        rows.append((release, (first.get("revision") or "?")[:12],
                     *[fleet_release_mark(by_release[release].get(name)) for name in listings]))
    show(table(f"Releases on {len(listings)} hosts", ["release", "revision", *listings], rows))
    for name, info in listings.items():
        lock = info.get("lock")
        if lock:
            console.print(f"[yellow]{name} locked[/]: {lock.get('action')} by {lock.get('who')} since {lock.get('since')}")
    if drift:
        console.print("[red]drift[/]: the hosts are not on the same release: "
                      + ", ".join(f"{name} on {current or 'nothing'}" for name, current in currents.items()))
    else:
        console.print(f"[green]✓[/] all {len(listings)} hosts on {next(iter(currents.values()))}")
    return currents


def fleet_release_mark(row) -> str:
    if row is None:
        return "-"
    if row["current"]:
        return "[green]current[/]"
    return "[red]bad[/]" if row.get("status") == "bad" else "present"


def show_rollback_disagreement(plans, as_json=False):
    """`fab -H a,b rollback` refused: {host: (live release, rollback target, why none)} as a table (or JSON)."""
    if as_json:
        print_json({"result": "refused", "hosts": [{"host": name, "live": current, "target": target, "problem": problem}
                                                   for name, (current, target, problem) in plans.items()]})
        return
    show(table("The hosts disagree", ["host", "live", "rollback target"],
               [(name, current or "-", target or f"[red]{problem}[/]")
                for name, (current, target, problem) in plans.items()]))
