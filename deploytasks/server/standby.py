"""A deploy's supervisor started early: prepare_release forks it once it holds the lock, before the revision is
fetched, and tells it the release once that is ready (commission); it starts the new release's pre-deploy Django
(from a Python of the live venv already importing Django meanwhile: warm_start.py), then waits for its request
on stdin, which `follow` (supervisor.py) writes. Neither start-up waits for the client any more.
Without an order or a request (prepare failed, nothing to deploy, the client went away: stdin's end) it and its
Django end at once; the lock guard removes the release and frees the lock as before.

Only the process that prepared the release (the deploy's one SSH command) holds a standby; `take` hands it over."""
import json
import os
import sys
from typing import Union

from . import warm_start
from .results import SupervisedDeploy, SupervisedRollback
from .subprocess_entry import end_fed

RELEASE_SLOT = "@RELEASE@"  # in the client's pre-deploy command: the release's name, which only prepare knows

_held = {}


def start(layout, zygote=None):
    """Fork the standby supervisor now, from this process, whose modules are loaded; zygote: how to start a
    Python of the live venv importing Django meanwhile (warm_start.live_spec), or None."""
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
        _standby(layout, zygote, requests[0], answers[1], log, close=(requests[1], answers[0]))
    for fd in (log, requests[0], answers[1]):
        os.close(fd)
    _held["process"] = Forked(pid, requests[1], answers[0])


def commission(prepared, request):
    """Tell the standby the release prepared: its pre-deploy Django starts (when its venv is ready: found, or
    built in prepare's command)."""
    process = _held.get("process")
    if process is None:
        return
    release = prepared["release"]
    fill = lambda template: template.replace(RELEASE_SLOT, release)  # noqa: E731
    order = {"command": None}
    if (prepared["venv_ready"] or "venv_build" in prepared) and release_name_ok(release):
        warm = request.get("warm") or {}
        order = {"command": fill(request["predeploy_command"]), "venv": prepared["venv"]}
        if warm and prepared["venv_ready"]:  # a venv built just now may be one the live venv's Python has read
            order.update(exec_prefix=fill(warm["exec_prefix"]), root=fill(warm["root"]), manage=warm["manage"],
                         args=warm["args"])
    try:
        process.stdin.write((json.dumps(order) + "\n").encode())
        process.stdin.flush()
    except OSError:  # it is gone: follow starts a supervisor as before
        dismiss()


def dismiss():
    """End the standby without an order (prepare failed, or there is nothing to deploy): its stdin's end."""
    process = _held.pop("process", None)
    if process is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
        process.stdout.close()


def _standby(layout, zygote, request_fd, answer_fd, log_fd, close):
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
            result, status = called(lambda params: supervise_when_asked(params, requests), {"zygote": zygote})
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
    """The standby's work: start the zygote (params["zygote"]) and load the supervisor, then read prepare's
    order and start the pre-deploy Django it names, then wait for the supervisor's request on `requests`
    (stdin): the supervisor's answer; at the end of either, end both without one."""
    requests = requests or sys.stdin
    zygote, warm = warm_start.spawn(params.get("zygote")), None
    try:
        from .supervisor import supervise_with

        order = requests.readline()
        line = ""
        if order.strip():
            warm, zygote = warm_start.commission(zygote, json.loads(order)), None
            line = requests.readline()
    except BaseException:
        warm_start.discard(zygote)
        end(warm)
        raise
    if not line.strip():
        warm_start.discard(zygote)
        end(warm)
        os._exit(0)  # nobody reads an answer: the command that started this one has ended
    return supervise_with(json.loads(line), warm)


def end(warm):
    """Stop a pre-deploy Django that will not be asked anything: its stdin's end makes it exit."""
    end_fed(warm, timeout=60)
