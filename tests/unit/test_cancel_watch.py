"""server/cancel_watch.py on real processes: a cancel asked for while a deploy's backup runs ends the processes the
backup started, at once; a process started before it is left alone; without a journal nothing is watched. During
the rehearsal, a cancel interrupts the main thread's sleep and a running SQLite query."""
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from deploytasks.server import cancel_watch, journal


def cancel(path):
    os.makedirs(os.path.join(path, ".deploy-lock"), exist_ok=True)
    open(os.path.join(path, ".deploy-lock", journal.CANCEL), "w").close()


def ended_within(process, seconds):
    try:
        process.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def test_a_cancel_ends_the_processes_the_backup_started_and_no_other(tmp_path):
    earlier = subprocess.Popen(["sleep", "30"])
    try:
        with cancel_watch.stopped_on_cancel({"journaled": True, "path": str(tmp_path)}, interval=0.05):
            dump = subprocess.Popen(["sleep", "30"])  # a pg_dump that would run on
            assert not ended_within(dump, 0.3)
            cancel(tmp_path)
            assert ended_within(dump, 5) and dump.returncode == -15
        assert earlier.poll() is None
    finally:
        earlier.kill()
        earlier.wait()


def test_without_a_journal_nothing_is_watched(tmp_path):
    cancel(tmp_path)
    started = time.monotonic()
    with cancel_watch.stopped_on_cancel({"path": str(tmp_path)}, interval=0.05):
        assert subprocess.run(["sleep", "0.3"]).returncode == 0
    assert time.monotonic() - started >= 0.3


class Wrapper:
    """What interrupted_on_cancel gets from Django: an object whose `connection` is the DB-API connection."""

    def __init__(self, connection):
        self.connection = connection


def cancel_later(path, seconds=0.3):
    timer = threading.Timer(seconds, cancel, (path,))
    timer.start()
    return timer


def test_a_cancel_interrupts_a_sleeping_main_thread(tmp_path):
    timer = cancel_later(tmp_path)
    with pytest.raises(cancel_watch.RehearsalInterrupted):
        with cancel_watch.interrupted_on_cancel({"journaled": True, "path": str(tmp_path)}, Wrapper(None),
                                                interval=0.05):
            time.sleep(30)  # a data migration waiting between batches
    timer.join()


def test_a_cancel_interrupts_a_running_sqlite_query(tmp_path):
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    timer = cancel_later(tmp_path)
    with pytest.raises((cancel_watch.RehearsalInterrupted, sqlite3.OperationalError)):
        with cancel_watch.interrupted_on_cancel({"journaled": True, "path": str(tmp_path)}, Wrapper(connection),
                                                interval=0.05):
            connection.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                               "SELECT count(*) FROM n").fetchall()  # never ends by itself
    timer.join()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # put back
