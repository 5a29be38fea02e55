"""server/dump_cancel.py on real processes: a cancel asked for while a deploy's backup runs ends the processes the
backup started, at once; a process started before it is left alone; without a journal nothing is watched."""
import os
import subprocess
import time

from deploytasks.server import dump_cancel, journal


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
        with dump_cancel.stopped_on_cancel({"journaled": True, "path": str(tmp_path)}, interval=0.05):
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
    with dump_cancel.stopped_on_cancel({"path": str(tmp_path)}, interval=0.05):
        assert subprocess.run(["sleep", "0.3"]).returncode == 0
    assert time.monotonic() - started >= 0.3
