"""The deploy's journal in the lock directory ({lock}/journal.json): which process runs the deploy's server
side, its phase, the release, the one it replaces, the migration state before, whether `current` was
switched. Rewritten atomically at each step, so whoever finds it after a crash knows what to undo.
{lock}/cancel asks the running deploy to stop at its next step and undo."""
import json
import os

from .errors import ServerError
from .files import write_private

JOURNAL = "journal.json"
CANCEL = "cancel"


class Cancelled(ServerError):
    """The client asked to stop (Ctrl-C): undo what was done."""

    def __init__(self, phase):
        super().__init__("interrupted (Ctrl-C) before %s" % phase, 130)


def label(kind, release):
    """"the deploy of R" / "the rollback to R"."""
    return "the rollback to %s" % release if kind == "rollback" else "the deploy of %s" % release


def journal_path(layout):
    return os.path.join(layout.lock, JOURNAL)


def read(layout):
    try:
        with open(journal_path(layout)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def update(layout, **fields):
    data = read(layout) or {}
    data.update(fields)
    if os.path.isdir(layout.lock):
        write_private(journal_path(layout), json.dumps(data, sort_keys=True))
    return data


def cancel(layout):
    """Ask the running deploy to stop (False when nothing is running)."""
    if not os.path.isdir(layout.lock):
        return False
    with open(os.path.join(layout.lock, CANCEL), "w") as handle:
        handle.write("cancel\n")
    return True


def cancelled(layout):
    return os.path.exists(os.path.join(layout.lock, CANCEL))


def checkpoint(layout, phase):
    """Record the phase about to start; raise Cancelled if the client asked to stop (the journal then says that the
    deploy stopped before that phase, everything before it having finished)."""
    if cancelled(layout):
        update(layout, stopped_before=phase)
        raise Cancelled(phase)
    update(layout, phase=phase)


def started_at(pid):
    """The process's start time in clock ticks (tells a live pid from a reused one), None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            raw = handle.read()
    except (OSError, TypeError):
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    return None if fields[0] == b"Z" else int(fields[19])


def me():
    return {"pid": os.getpid(), "started": started_at(os.getpid())}


def running(journal):
    """Whether the process the journal names still runs."""
    pid = journal and journal.get("pid")
    return bool(pid) and started_at(pid) is not None and started_at(pid) == journal.get("started")


def note(params, **fields):
    """From a step inside the deploy (predeploy): record fields, honour a cancel (no-op outside a journal)."""
    if not params.get("journaled"):
        return
    from .layout import ServerLayout

    layout = ServerLayout(params["path"])
    if "phase" in fields:
        phase = fields.pop("phase")
        update(layout, **fields)
        checkpoint(layout, phase)
    else:
        update(layout, **fields)
