"""What a deploy would do, shown before it does it: `fab plan` / `fab deploy --plan`; `fab check`'s checklists."""
import subprocess

from .checklist import failed, items as checklist_items
from .connection import host_name
from .django import introspect, run_django_script
from .errors import DeployTasksError
from .hooks import DEPLOY_STEPS, described
from .output import console, print_json, show, table
from .releases import candidate
from .tables import show_checklists
from .target import has_live_release, require_live

COLOUR = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


def local_commits(old, new) -> dict:
    """git log old..new in the local repository (strategy upload ships from it)."""
    try:
        log = subprocess.run(["git", "log", "--oneline", "--no-decorate", f"{old}..{new}"], capture_output=True,
                             text=True, check=True).stdout.splitlines()
        files = subprocess.run(["git", "diff", "--name-only", old, new], capture_output=True, text=True,
                               check=True).stdout.splitlines()
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        return {"error": (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()[0]}
    return {"commits": log, "files_changed": len(files)}


def deploy_plan(c, settings, revision=None) -> dict:
    """Everything a deploy of `revision` would do, from a staging release that is removed afterwards."""
    with candidate(c, settings, revision) as (prep, project):
        live_meta = prep.get("current_meta") or {}
        params = {"database": settings.database, "strict_migrations": settings.strict_migrations,
                  "safe_migrations": settings.safe_migrations, "checks": True, "changes": True, "plan": True,
                  "path": settings.path, "release_dir": prep["release_dir"], "revision": prep["revision"],
                  "live_revision": live_meta.get("revision"), "strategy": settings.strategy,
                  "requirements": settings.requirements}
        document = run_django_script(c, project, "deploy_plan", params, what="planning the deploy")
    document.update({
        "host": host_name(c), "revision": prep["revision"], "asked": revision or settings.branch,
        "live": {"release": prep["current"], "revision": live_meta.get("revision")},
        "venv": {"path": prep["venv"], "action": "reuse" if prep["venv_ready"] else "build"},
        "hooks": described(settings.hooks, DEPLOY_STEPS),
    })
    if settings.strategy == "upload" and live_meta.get("revision"):
        document["revision_diff"] = local_commits(live_meta["revision"], prep["revision"])
    document["checklist"] = checklist_items(document["introspection"])
    document["ok"] = not failed(document["checklist"])
    return document


def summary_rows(document):
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
        rows.append(("static files", f"{len(static['new'])} new, {len(static['changed'])} changed of {static['files']}"))
    if document.get("hooks"):
        rows.append(("hooks", "; ".join(document["hooks"])))
    verdict = "FAIL" if not document["ok"] else "WARN" if any(i["verdict"] == "WARN" for i in document["checklist"]) else "PASS"
    rows.append(("checklist", f"[{COLOUR[verdict]}]{verdict}[/]"))
    return rows, pending


def show_plan(document, as_json) -> None:
    """The plan as tables (or JSON); raises when the checklist has a failure (the deploy would stop)."""
    if as_json:
        print_json(document)
    else:
        rows, pending = summary_rows(document)
        show(table(f"Deploy plan for {document['host']} (nothing was changed)", ["what", "detail"], rows))
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
            for step in pending:
                console.print(f"[bold]-- {step['app']}.{step['name']}[/]\n{step.get('sql') or '-- no SQL'}",
                              highlight=False, soft_wrap=True)
        show(table("Checklist of the new release", ["check", "verdict", "detail"],
                   [(i["item"], f"[{COLOUR[i['verdict']]}]{i['verdict']}[/]", i["detail"]) for i in document["checklist"]]))
    if not document["ok"]:
        raise DeployTasksError("the deploy would stop: the checklist has failures (see the FAIL rows)")


def show_checks(c, settings, project, revision, *, live_only, as_json):
    """`fab check`: the checklist of the live release (if any) and, unless `live_only`, of `revision` prepared
    beside it, nothing switched."""
    sections = []
    if has_live_release(c, project):
        sections.append(("live", f"live release on {host_name(c)}", introspect(c, project, settings, schema=True)))
    elif live_only:
        require_live(c, project)
    if not live_only:
        with candidate(c, settings, revision) as (prep, next_release):
            title = f"next: {revision or settings.branch} @ {prep['revision'][:12]} on {host_name(c)}"
            sections.append(("next", title, introspect(c, next_release, settings)))
    show_checklists(sections, as_json)
