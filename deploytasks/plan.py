"""What a deploy would do, found before it does it: `fab plan` / `fab deploy --plan` (shown by
tables.show_deploy_plan); `fab check`'s checklists."""
import subprocess

from .checklist import failed, items as checklist_items
from .server.safety_items import SEE_PLAN
from .django import introspect, run_django_script
from .errors import DeployTasksError
from .hooks import DEPLOY_STEPS, described, for_server
from .host_names import host_name
from .output import print_json
from .releases import candidate
from .tables import show_checklists
from .target import has_live_release, require_live


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
                  "requirements": settings.requirements, "collectstatic": settings.collectstatic,
                  "hooks": for_server(project, settings.hooks)}
        document = run_django_script(c, project, "deploy_plan", params, what="planning the deploy")
    document.update({
        "host": host_name(c), "revision": prep["revision"], "asked": revision or settings.branch,
        "live": {"release": prep["current"], "revision": live_meta.get("revision")},
        "venv": {"path": prep["venv"], "action": "reuse" if prep["venv_ready"] else "build"},
        "hooks": described(settings.hooks, DEPLOY_STEPS),
        "recovered": prep.get("recovered"),
    })
    if settings.strategy == "upload" and live_meta.get("revision"):
        document["revision_diff"] = local_commits(live_meta["revision"], prep["revision"])
    document["checklist"] = [plan_said(item) for item in checklist_items(document["introspection"])]
    document["ok"] = not failed(document["checklist"])
    return document


def show_checks(c, settings, project, revision, *, live_only, as_json):
    """`fab check`: the checklist of the live release (if any) and, unless `live_only`, of `revision` prepared
    beside it, nothing switched."""
    sections = []
    if has_live_release(c, project):
        title = f"live release on {host_name(c)}"
        try:
            info = introspect(c, project, settings, schema=True, health=True)
        except DeployTasksError as exc:  # a monitoring script still gets a document saying so
            if as_json:
                document = {"title": title, "items": [], "ok": False, "error": str(exc)}
                print_json(document if live_only else {"live": document})
            raise
        sections.append(("live", title, dict(info, live=True)))
    elif live_only:
        require_live(c, project)
    if not live_only:
        with candidate(c, settings, revision) as (prep, next_release):
            title = f"next: {revision or settings.branch} @ {prep['revision'][:12]} on {host_name(c)}"
            sections.append(("next", title, introspect(c, next_release, settings)))
    show_checklists(sections, as_json)


def plan_said(item):
    """A checklist item as the plan shows it: its pointer to `fab plan` points at the lint above it instead."""
    detail = item.get("detail")
    if isinstance(detail, str) and detail.endswith(SEE_PLAN):
        item = dict(item, detail=detail[:-len(SEE_PLAN)] + " — see the lint above for why and what to do instead")
    return item
