"""What a deploy prints about the release it ships, beyond the steps' ticks."""
from .output import console


def report_checklist(verdicts):
    """The checklist's WARN rows (and FAIL rows a --force deploy went past), one line each."""
    for verdict in verdicts or []:
        colour = "red" if verdict["verdict"] == "FAIL" else "yellow"
        forced = " (deployed anyway: --force)" if verdict["verdict"] == "FAIL" else ""
        console.print(f"[{colour}]{verdict['verdict']}[/] {verdict['item']}: {verdict['detail']}{forced}", soft_wrap=True)


def report_migrations(pre):
    """The backup taken before migrating and whether the migrations were rehearsed on a copy of it first."""
    count, vendor = len(pre["pending"]), (pre.get("database") or {}).get("vendor", "?")
    if pre.get("backup"):
        console.print(f"[green]✓[/] backup {pre['backup']}", soft_wrap=True)
    else:
        console.print("[green]✓[/] no backup: the database held nothing yet")
    if pre.get("rehearsed"):
        console.print(f"[green]✓[/] {count} migration(s) rehearsed on a copy, then applied")
    elif pre.get("backup"):
        reason = pre.get("rehearsal_skipped") or f"rehearsals on a copy are not available for {vendor} databases"
        console.print(f"[green]✓[/] {count} migration(s) applied [yellow](not rehearsed on {vendor}: {reason})[/]",
                      soft_wrap=True)
    else:
        console.print(f"[green]✓[/] {count} migration(s) applied (nothing to rehearse on)")
