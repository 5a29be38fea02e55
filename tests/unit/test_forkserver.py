"""The tests' fork server answers as `python -m invoke` started afresh would (tests/_forkserver.py)."""
import os
import subprocess
import sys
import time

import pytest

from tests import _forkserver as tools
from tests._util import clean_env

TASKS = '''
import atexit, json, os, sys, threading, time
from invoke import task

@task
def show(c):
    """Prints what it was started with and reads a line."""
    print(json.dumps({"cwd": os.getcwd(), "token": os.environ.get("TOKEN"), "argv": sys.argv[1:],
                      "path0": sys.path[0], "line": sys.stdin.readline(), "in_environ": "STRAY" in os.environ}))
    print("to stderr\\r\\na bar\\rits end", file=sys.stderr)
    sys.exit(3)

@task
def ends(c):
    """Leaves a thread, an atexit handler and unflushed output behind."""
    threading.Thread(target=lambda: (time.sleep(0.3), print("thread done"))).start()
    atexit.register(lambda: print("atexit ran"))
    sys.stdout.write("unflushed")

@task
def fails(c):
    """Raises."""
    raise RuntimeError("boom")

@task
def sleeps(c):
    """Sleeps."""
    with open("sleeper.pid", "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(60)
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "tasks.py").write_text(TASKS)
    return tmp_path


def both(project, *args, input=None, env=None):
    env = clean_env(**(env or {}))
    forked = tools.run("inv", args, cwd=project, env=env, input=input)
    real = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=project, env=env, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    return forked, real


def test_a_run_has_the_argv_cwd_environment_and_streams_of_a_real_start(project):
    forked, real = both(project, "show", input="a line\n", env={"TOKEN": "t-1"})
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)
    assert forked.returncode == 3
    assert '"token": "t-1"' in forked.stdout and '"line": "a line\\n"' in forked.stdout
    assert f'"path0": "{project}"' in forked.stdout and '"in_environ": false' in forked.stdout
    assert forked.stderr == "to stderr\na bar\nits end\n"


def test_the_end_joins_threads_runs_atexit_and_flushes_as_python_does(project):
    forked, real = both(project, "ends")
    assert (forked.returncode, forked.stdout) == (real.returncode, real.stdout) == (0, "unflushedthread done\natexit ran\n")


def test_an_exception_and_an_unknown_task_end_as_they_would(project):
    for args in (("fails",), ("nosuchtask",), ("--list",)):
        forked, real = both(project, *args)
        assert forked.returncode == real.returncode
        assert forked.stdout == real.stdout
        assert forked.stderr.splitlines()[-1:] == real.stderr.splitlines()[-1:]


def test_a_run_past_its_timeout_is_killed(project):
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        tools.run("inv", ["sleeps"], cwd=project, env=clean_env(), timeout=2)
    assert time.monotonic() - started < 30
    pid = int((project / "sleeper.pid").read_text())
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:  # killed, then reaped by its handler
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
