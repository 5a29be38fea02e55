"""What a deploy prints about the release it ships, beyond the steps' ticks."""
from rich.markup import escape

from .output import console
from .server.results import Completed, PredeployResult, PreparedRelease


def report_notes(pre: PredeployResult):
    """The checklist's WARN rows (and FAIL rows a --force deploy went past), one line each; where the media
    directory lives, with a warning when nothing keeps it; a STATIC_ROOT outside the deploy path."""
    for verdict in pre.get("checklist") or []:
        colour = "red" if verdict["verdict"] == "FAIL" else "yellow"
        forced = " (deployed anyway: --force)" if verdict["verdict"] == "FAIL" else ""
        item, detail = escape(verdict["item"]), escape(verdict["detail"])
        console.print(f"[{colour}]{verdict['verdict']}[/] {item}: {detail}{forced}", soft_wrap=True)
    media = pre.get("media") or {}
    if media.get("warning"):
        console.print(f"[yellow]WARN[/] media: {escape(media['warning'])}", soft_wrap=True)
    static = pre.get("static") or {}
    if static.get("warning"):
        console.print(f"[yellow]WARN[/] static: {escape(static['warning'])}", soft_wrap=True)


def checklist_outcome(pre: PredeployResult) -> str:
    """"check passed", or how many FAILs a --force deploy went past."""
    forced = [v for v in pre.get("checklist") or [] if v["verdict"] == "FAIL"]
    return f"checks passed except {len(forced)} FAIL(s) forced past" if forced else "check passed"


def report_migrations(pre: PredeployResult):
    """The backup taken before migrating and whether the migrations were rehearsed on a copy of it first."""
    count, vendor = len(pre["pending"]), (pre.get("database") or {}).get("vendor", "?")
    if pre.get("backup"):
        console.print(f"[green]✓[/] backup {pre['backup']}", soft_wrap=True)
    else:
        console.print("[green]✓[/] no backup: the database held nothing yet")
    if pre.get("rehearsed"):
        how = " (restored as the backup was dumped)" if pre.get("copied_while_dumping") else ""
        console.print(f"[green]✓[/] {count} migration(s) rehearsed on a copy{how}, then applied")
    elif pre.get("backup"):
        reason = pre.get("rehearsal_skipped") or f"rehearsals on a copy are not available for {vendor} databases"
        console.print(f"[yellow]WARN[/] {count} migration(s) applied (not rehearsed on {vendor}: {reason})",
                      highlight=False, soft_wrap=True)
    else:
        console.print(f"[green]✓[/] {count} migration(s) applied (nothing to rehearse on)")


def report_marked_bad(prep: PreparedRelease):
    """A warning when the revision about to ship was rolled back from, or failed its health check, before."""
    for mark in prep.get("marked_bad") or []:
        console.print(f"[yellow]WARN[/] revision {prep['revision'][:12]} was marked bad before: {mark}", soft_wrap=True)


def venv_changed(prep: PreparedRelease) -> bool:
    """Whether the release runs from another venv than the live one (its requirements changed)."""
    live = (prep.get("current_meta") or {}).get("venv")
    return bool(prep.get("current")) and bool(live) and live != prep["venv"]


def report_venv_change(settings, prep: PreparedRelease, fin=None):
    """After a requirements change: restarted, or a warning naming the processes that still run the old venv
    (the server looked once the new release answered its health check)."""
    if not venv_changed(prep):
        return
    users = (fin or {}).get("old_venv_users")
    if settings.restart:
        console.print("[green]✓[/] restarted the app server (`restart`): the venv changed")
    elif users == [] and (settings.reload or settings.start):
        console.print("[green]✓[/] the venv changed and no process runs the old one any more (the reload command "
                      "restarted the app server)")
    elif settings.reload or settings.start:
        running = "; ".join(f"pid {pid} ({command.split()[0] if command.split() else '?'})"
                            for pid, command in (users or [])[:3])
        console.print("[yellow]WARN[/] the venv changed (requirements), but a reload keeps the app server's old "
                      "interpreter and packages (gunicorn's master does)" + (f", still running from it: {running}"
                      if running else "") + ": restart it, or set deploytasks.restart to a command that does (e.g. "
                      "`sudo -S systemctl restart mysite`)", soft_wrap=True)


def pruned_summary(fin: Completed) -> str:
    """"pruned 2 old release(s); 3 unused package(s) removed from the uv cache (41.2 MiB)", or "" when nothing was."""
    parts = [f"pruned {len(fin['pruned'])} old release(s)"] if fin["pruned"] else []
    removed = (fin.get("uv_cache") or {}).get("removed")
    if removed:
        parts.append(f"{len(removed)} unused package(s) removed from the uv cache "
                     f"({fin['uv_cache']['bytes'] / 1048576:.1f} MiB)")
    return "; ".join(parts)


def report_unpushed(settings, deployed):
    """A note when the local checkout's HEAD has commits the deployed revision lacks (not pushed yet: the server
    deploys what the repository it clones from has)."""
    import subprocess

    try:
        done = subprocess.run(["git", "-C", settings.project, "rev-list", "--count", f"{deployed}..HEAD"],
                              capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return
    count = done.stdout.strip()
    if done.returncode == 0 and count.isdigit() and int(count):
        console.print(f"[yellow]note:[/] your HEAD has {count} commit(s) that {deployed[:12]} lacks: push them "
                      f"(the server deploys {settings.branch} as {settings.repo or 'the repository'} has it)",
                      highlight=False)
