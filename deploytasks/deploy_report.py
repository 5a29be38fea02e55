"""What a deploy prints about the release it ships, beyond the steps' ticks."""
from .output import console


def report_checklist(verdicts):
    """The checklist's WARN rows (and FAIL rows a --force deploy went past), one line each."""
    for verdict in verdicts or []:
        colour = "red" if verdict["verdict"] == "FAIL" else "yellow"
        forced = " (deployed anyway: --force)" if verdict["verdict"] == "FAIL" else ""
        console.print(f"[{colour}]{verdict['verdict']}[/] {verdict['item']}: {verdict['detail']}{forced}", soft_wrap=True)
