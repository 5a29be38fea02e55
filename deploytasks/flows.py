"""Small pieces both collections print with: timed steps, what verified a backup, the deploy holding the lock."""
import time

from .output import console


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
