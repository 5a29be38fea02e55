"""The migration lint's findings in a deploy's output."""
from .output import console


def report_lint(report) -> None:
    """Print a deploy's lint findings as warnings (a strict deploy has already stopped on them)."""
    if not report or not report["findings"]:
        return
    for finding in report["findings"]:
        console.print(f"[yellow]![/] {finding['migration']}: {finding['operation']} [{finding['rule']}]: "
                      f"{finding['why']}; instead: {finding['instead']}")
