"""Ctrl-C while a deploy's pre-migration backup runs: its tools (pg_dump, zstd, pg_restore, mysqldump, mysql: the
processes this one started for it) are stopped at once, so the deploy stops within a moment rather than after the
whole dump and its rehearsal. The backup then fails and cleans up as any failed dump does (its partial file
removed, the rehearsal's scratch copy dropped), and the supervisor undoes the deploy, which has applied nothing."""
import os
import signal
import threading
from contextlib import contextmanager

from . import journal as journals
from .layout import ServerLayout


def children(parent):
    """PIDs of the running processes whose parent is `parent`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(parent) and fields[0] != "Z":
            found.append(int(name))
    return found


@contextmanager
def stopped_on_cancel(params, interval=0.2):
    """Within: a cancel asked for (journal.cancelled) ends the processes this one started meanwhile, with SIGTERM
    (a deploy's journaled steps only)."""
    if not params.get("journaled"):
        yield
        return
    layout, done = ServerLayout(params["path"]), threading.Event()
    before = set(children(os.getpid()))  # not the backup's

    def watch():
        while not done.wait(interval):
            if journals.cancelled(layout):
                for pid in set(children(os.getpid())) - before:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                return
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
