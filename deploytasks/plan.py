"""What a deploy would do, shown before it does it: the migration lint's findings (and `fab plan`)."""
from .output import console


def report_lint(report) -> None:
    """Print a deploy's lint findings as warnings (a strict deploy has already stopped on them)."""
    if not report or not report["findings"]:
        return
    for finding in report["findings"]:
        console.print(f"[yellow]![/] {finding['migration']}: {finding['operation']} [{finding['rule']}]: "
                      f"{finding['why']}; instead: {finding['instead']}")
