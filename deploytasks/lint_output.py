"""The migration lint's findings in a deploy's output."""
from rich.markup import escape

from .output import console


def report_lint(report) -> None:
    """Print a deploy's lint findings as warnings (a strict deploy has already stopped on them)."""
    if not report or not report["findings"]:
        return
    for finding in report["findings"]:
        console.print("[yellow]![/] " + escape(f"{finding['migration']}: {finding['operation']} [{finding['rule']}]: "
                                              f"{finding['why']}; instead: {finding['instead']}"))
