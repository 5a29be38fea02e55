"""openssh._watch: the progress of an ssh transfer while it runs, and its exit status once it ends."""
import subprocess
import sys

from deploytasks import openssh


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


def test_a_pidfd_watches_a_running_process_on_linux():
    process = subprocess.Popen(["sleep", "5"])
    try:
        fd = openssh._exit_fd(process.pid)
        assert isinstance(fd, int)
    finally:
        process.kill()
        process.wait()
    openssh.os.close(fd)
