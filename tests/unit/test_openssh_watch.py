"""openssh._watch: the progress of an ssh transfer while it runs, and its exit status once it ends."""
import select
import subprocess
import sys

from deploytasks import openssh
from deploytasks.server import process_end


def test_the_watch_reports_progress_while_the_process_runs_and_returns_its_status_when_it_ends():
    seen = []
    process = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(0.35); sys.exit(3)"])
    assert openssh._watch(process, lambda: len(seen), seen.append) == 3
    assert seen[:2] == [0, 1] and process.returncode == 3


def test_a_process_that_already_ended_is_not_waited_for():
    process = subprocess.Popen(["true"])
    process.wait()
    seen = []
    assert openssh._watch(process, lambda: 7, seen.append) == 0
    assert seen == []


def test_the_exit_fd_becomes_readable_when_its_process_ends_and_not_before():
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    fd = process_end.exit_fd(process.pid)
    try:
        assert isinstance(fd, int)
        assert select.select([fd], [], [], 0)[0] == []
        process.stdin.close()  # the process reads EOF and ends
        assert select.select([fd], [], [], 30)[0] == [fd]
        assert process.wait() == 0
    finally:
        process_end.os.close(fd)
