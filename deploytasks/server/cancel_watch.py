"""Ctrl-C while a deploy's pre-migration backup or its rehearsal runs (steps that change nothing live): the step is
stopped at once rather than at the next step's start, so the deploy stops within a moment rather than after the
whole dump or the rehearsal's migrations. The backup's tools (pg_dump, zstd, pg_restore, mysqldump, mysql: the
processes this one started for it) are ended, and the backup cleans up as any failed dump does (its partial file
removed, the rehearsal's scratch copy dropped); the rehearsal's migrations on the copy are interrupted (a signal
raising RehearsalInterrupted in the main thread, the database's running query cancelled), and the copy is dropped
as after any failed rehearsal. The supervisor then undoes the deploy, which has applied nothing."""
import os
import signal
import threading
from contextlib import contextmanager

from . import journal as journals
from .layout import ServerLayout
from .procscan import _stat


def children(parent):
    """PIDs of the running processes whose parent is `parent`."""
    found = []
    for name in os.listdir("/proc"):
        stat = _stat(int(name)) if name.isdigit() else None  # (comm, ppid); None once gone or a zombie
        if stat is not None and stat[1] == parent:
            found.append(int(name))
    return found


class RehearsalInterrupted(Exception):
    """Raised in the rehearsal's migrations when Ctrl-C asked the deploy to stop."""


@contextmanager
def watching(params, on_cancel, interval=0.2):
    """Within: on_cancel() is called once, from a thread, as soon as a cancel is asked for (journal.cancelled);
    a deploy's journaled steps only."""
    if not params.get("journaled"):
        yield
        return
    layout, done = ServerLayout(params["path"]), threading.Event()

    def watch():
        while not done.wait(interval):
            if journals.cancelled(layout):
                on_cancel()
                return
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


@contextmanager
def stopped_on_cancel(params, interval=0.2):
    """Within: a cancel ends the processes this one started meanwhile (the backup's tools), with SIGTERM."""
    before = set(children(os.getpid())) if params.get("journaled") else set()  # not the backup's

    def end_them():
        for pid in set(children(os.getpid())) - before:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    with watching(params, end_them, interval):
        yield


def cancel_query(connection):
    """Stops the query `connection` (a Django connection) runs, from another thread."""
    raw = getattr(connection, "connection", None)
    if raw is None:
        return
    if getattr(connection, "vendor", "") == "mysql":  # no thread-safe cancel in its drivers: KILL QUERY, on a second
        thread_id = int(raw.thread_id())            # connection, stops the query (the first stays open)
        killer = connection.get_new_connection(connection.get_connection_params())
        try:
            killer.cursor().execute("KILL QUERY %d" % thread_id)
        finally:
            killer.close()
        return
    for method in ("interrupt", "cancel"):  # sqlite3 / psycopg: both may be called from another thread
        if hasattr(raw, method):
            getattr(raw, method)()
            return


@contextmanager
def interrupted_on_cancel(params, connection, interval=0.2):
    """Within (on the main thread): a cancel raises RehearsalInterrupted in the main thread, through SIGUSR1, which
    also wakes a sleep or a wait on a socket, and cancels what `connection` (Django's, the rehearsal's copy) runs
    in its database, which a signal cannot stop (SQLite's interrupt, PostgreSQL's cancel request, MySQL's KILL
    QUERY)."""
    def interrupt(signum, frame):
        raise RehearsalInterrupted("interrupted (Ctrl-C)")

    def stop():
        os.kill(os.getpid(), signal.SIGUSR1)
        try:
            cancel_query(connection)
        except Exception:  # noqa: BLE001 - the signal stops it all the same once the query returns
            pass
    if threading.current_thread() is not threading.main_thread():  # signal handlers are the main thread's
        yield
        return
    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with watching(params, stop, interval):
            yield
    finally:
        signal.signal(signal.SIGUSR1, previous)
