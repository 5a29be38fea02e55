"""Confirmation for destructive tasks."""
import sys

from .errors import DeployTasksError


def confirm(question: str, yes: bool, dry: bool = False) -> None:
    """Return when the user agrees (or passed --yes); raise otherwise. Never blocks without a TTY."""
    if yes or dry:
        return
    if not sys.stdin.isatty():
        raise DeployTasksError(f"{question.rstrip('?')}: refusing without confirmation, pass --yes to go ahead")
    sys.stderr.write(f"{question} [y/N] ")  # not stdout: a --json there stays one document
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline().strip().lower()
    except KeyboardInterrupt:
        answer = ""
    if answer not in ("y", "yes"):
        raise DeployTasksError("cancelled, nothing was changed")
