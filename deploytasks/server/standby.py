"""A deploy's supervisor started early: prepare_release forks it once the release is ready, while the client
reads prepare's answer; it starts the new release's pre-deploy Django meanwhile, then waits for its request on
stdin, which `follow` (supervisor.py) writes. Neither start-up waits for the client any more.
Without a request (the client went away and the deploy's command ended: stdin's end) both end at once; the lock
guard removes the release and frees the lock as before.

Only the process that prepared the release (the deploy's one SSH command) holds a standby; `take` hands it over."""
import json
import os
import subprocess
import sys
from typing import Union

from .results import SupervisedDeploy, SupervisedRollback
from .subprocess_entry import end_fed

RELEASE_SLOT = "@RELEASE@"  # in the client's pre-deploy command: the release's name, which only prepare knows

_held = {}


def start(layout, release, command_template):
    """Start the standby supervisor for `release`, its pre-deploy Django being `command_template` with the
    release's name in RELEASE_SLOT (None: no pre-deploy Django started early). It is forked from this process,
    whose modules are loaded: the pre-deploy Django starts at once, not after a new interpreter's start."""
    warm = command_template.replace(RELEASE_SLOT, release) if command_template and release_name_ok(release) else None
    try:
        log = os.open(os.path.join(layout.lock, "supervisor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:  # no standby: follow starts a supervisor as before
        return
    requests, answers = os.pipe(), os.pipe()
    for stream in (sys.stdout, sys.stderr):  # nothing of this process's may reach the standby's streams
        stream.flush()
    try:
        pid = os.fork()
    except OSError:
        for fd in (log, *requests, *answers):
            os.close(fd)
        return
    if pid == 0:
        _standby(layout, warm, requests[0], answers[1], log, close=(requests[1], answers[0]))
    for fd in (log, requests[0], answers[1]):
        os.close(fd)
    _held["process"] = Forked(pid, requests[1], answers[0])


def _standby(layout, warm, request_fd, answer_fd, log_fd, close):
    """In the forked child: its own session, the request pipe as stdin, the answer pipe as stdout, the log as
    stderr; supervise_when_asked as the runner would run it; never returns. The parent's sys.stdin is not
    touched: its reader thread (a conversation's) may hold its lock, and that thread is not in this process."""
    code = 1
    try:
        os.setsid()
        for fd, target in ((request_fd, 0), (answer_fd, 1), (log_fd, 2)):
            os.dup2(fd, target)
        for fd in (request_fd, answer_fd, log_fd, *close):
            os.close(fd)
        os.chdir(layout.path)
        from .runner import called, emit

        with open(0, "r", closefd=False) as requests, open(1, "w", closefd=False) as answers:
            result, status = called(lambda params: supervise_when_asked(params, requests), {"warm": warm})
            emit(result, answers)
            code = status
    except BaseException:  # noqa: BLE001 - a bug: its traceback goes to the log, as the runner's would
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


class Forked:
    """The parent's handle on the forked standby: what `follow` uses of a Popen."""

    def __init__(self, pid, request_fd, answer_fd):
        self.pid, self.returncode = pid, None
        self.stdin = open(request_fd, "wb")
        self.stdout = open(answer_fd, "rb")

    def poll(self):
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def communicate(self):
        """(its answer, None) once it has ended: its request's stream closed, its output read to the end."""
        try:
            self.stdin.close()
        except OSError:  # it is gone: what it answered, if anything, is read below
            pass
        out = self.stdout.read()
        self.stdout.close()
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return out, None


def release_name_ok(name):
    return bool(name) and all(char.isalnum() or char in "._-" for char in name)


def take():
    """The standby supervisor this process started, still waiting for its request; else None."""
    process = _held.pop("process", None)
    if process is None or process.poll() is not None:
        return None
    return process


def supervise_when_asked(params, requests=None) -> Union[SupervisedDeploy, SupervisedRollback]:
    """The standby's work: start the pre-deploy Django (params["warm"]) first, then load the supervisor
    and wait for its request on `requests` (stdin): the supervisor's answer; at its end, end both without one."""
    warm = None
    if params.get("warm"):
        warm = subprocess.Popen(params["warm"], shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
    try:
        from .supervisor import supervise_with
    except BaseException:
        end(warm)
        raise
    line = (requests or sys.stdin).readline()
    if not line.strip():
        end(warm)
        os._exit(0)  # nobody reads an answer: the command that started this one has ended
    return supervise_with(json.loads(line), warm)


def end(warm):
    """Stop a pre-deploy Django that will not be asked anything: its stdin's end makes it exit."""
    end_fed(warm, timeout=60)
