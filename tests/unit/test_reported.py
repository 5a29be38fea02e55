"""What a task's caller sees when it stops: one `deploytasks: error:` line and exit status 1."""
import pytest
from invoke.exceptions import Exit

from deploytasks.errors import DeployTasksError, reported


def stops_with(exception):
    @reported
    def task():
        raise exception
    with pytest.raises(Exit) as stopped:
        task()
    return stopped.value


def test_a_problem_the_user_can_fix_is_one_line_and_exit_status_1():
    stopped = stops_with(DeployTasksError("the lock is held: run `fab unlock`"))
    assert (stopped.message, stopped.code) == ("deploytasks: error: the lock is held: run `fab unlock`", 1)


def test_ctrl_c_no_step_reported_is_one_line_too_not_a_silent_exit():
    stopped = stops_with(KeyboardInterrupt())
    assert (stopped.message, stopped.code) == ("deploytasks: error: interrupted (Ctrl-C)", 1)


def test_other_exceptions_pass_through_as_bugs():
    @reported
    def task():
        raise ValueError("a bug")
    with pytest.raises(ValueError):
        task()


def test_a_connection_gone_under_a_step_is_one_line_not_a_traceback():
    import paramiko

    for exception in (EOFError(), ConnectionResetError(104, "Connection reset by peer"), paramiko.SSHException("x")):
        stopped = stops_with(exception)
        assert stopped.code == 1 and stopped.message.startswith("deploytasks: error: the connection to the server was "
                                                                f"lost ({type(exception).__name__}")
        assert "run the task again" in stopped.message


RUN_THE_TASK = """
try:
    task()
except Exit as stopped:
    print(stopped.message, file=sys.stderr)
    sys.exit(stopped.code)
"""


def run_as_fab_runs(tmp_path, task_module):
    """`python -m` a module defining a reported `task` (as `fab` is run): its exit status and streams."""
    import subprocess
    import sys

    (tmp_path / "interrupted_task.py").write_text(task_module + RUN_THE_TASK)
    return subprocess.run([sys.executable, "-m", "interrupted_task"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)


TASK_INTERRUPTED_IN_EXEC = """
import sys
from invoke.exceptions import Exit
from deploytasks.errors import DeployTasksError, reported

@reported
def task():
    try:
        exec("raise KeyboardInterrupt")  # as a dataclass being made in a lazy import when Ctrl-C comes
    except KeyboardInterrupt:
        raise DeployTasksError("interrupted (Ctrl-C) during the backup's download") from None
"""


def test_ctrl_c_that_came_during_an_exec_still_exits_1_not_by_sigint(tmp_path):
    """Run as `python -m` (as `fab` is): CPython's own mark of a KeyboardInterrupt out of exec() made the process
    end by SIGINT after the reported line."""
    run = run_as_fab_runs(tmp_path, TASK_INTERRUPTED_IN_EXEC)
    assert (run.returncode, run.stderr.strip()) == (
        1, "deploytasks: error: interrupted (Ctrl-C) during the backup's download"), run


TASK_INTERRUPTED_IN_A_DESTRUCTOR = """
import os, signal, sys, time
from invoke.exceptions import Exit
from deploytasks.errors import reported

signal.signal(signal.SIGINT, signal.default_int_handler)  # as Python starts from a terminal (not inherited ignored)


class Buffer:
    def __del__(self):  # Ctrl-C lands while a destructor runs, as it did in the import lock's weakref callback
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass


@reported
def task():
    Buffer()
    for _ in range(100):  # the rest of the download
        time.sleep(0.01)
    print("finished")

"""


def test_ctrl_c_that_lands_in_a_destructor_is_not_lost(tmp_path):
    """Python drops an exception raised in a __del__ or a weakref callback (`Exception ignored in: …`): a Ctrl-C
    there during a backup's download printed a traceback fragment and the backup went on to its end."""
    run = run_as_fab_runs(tmp_path, TASK_INTERRUPTED_IN_A_DESTRUCTOR)
    assert (run.returncode, run.stdout, run.stderr.strip()) == (1, "", "deploytasks: error: interrupted (Ctrl-C)"), run


def test_the_import_locks_callback_is_where_an_interrupt_would_be_lost():
    from deploytasks.errors import raised_where_it_is_lost

    namespace = {"sys": __import__("sys")}
    exec(compile("def cb():\n    return sys._getframe()\n", "<frozen importlib._bootstrap>", "exec"), namespace)
    assert raised_where_it_is_lost(namespace["cb"]())
    assert not raised_where_it_is_lost(sys_frame())


def sys_frame():
    import sys

    return sys._getframe()
