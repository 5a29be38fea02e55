"""Hooks on the server: the user's commands before/after a deploy step, run in the new release. The client
built each shell command (deploytasks/hooks.py); params["hooks"] is {when: {step: [[hook, command], ...]}}.
Before the switch a failing hook raises ServerError (the deploy undoes itself, nothing switched); after it,
failures are collected for the report unless params["undo_on_hook_failure"] makes them the deploy's problem."""
import os
import subprocess

from .commands import kill_group
from .errors import ServerError
from .journal import CANCEL, Cancelled
from .layout import ServerLayout

POLL = 0.2  # seconds between looks for a cancel request (Ctrl-C on the client) while a hook runs


def first_error(stderr, stdout):
    """The telling line of a failed command: a traceback's last line, else stderr's first, else stdout's first."""
    for text in (stderr, stdout):
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if lines:
            return lines[-1] if any(line.startswith("Traceback") for line in lines) else lines[0]
    return "no output"


def failure(hook, when, step, code, stderr, stdout):
    """The one line that says which hook failed and why."""
    return "hook %r %s %s failed (exit %d): %s" % (hook, when, step, code, first_error(stderr, stdout))


def listed(params, when, step):
    return ((params.get("hooks") or {}).get(when) or {}).get(step) or []


def cancel_file(params):
    return os.path.join(ServerLayout(params["path"]).lock, CANCEL) if params.get("path") else None


def finished(process, cancel, what):
    """The exit status; a cancel request (Ctrl-C on the client) raises Cancelled instead of waiting on."""
    while True:
        try:
            return process.wait(timeout=POLL if cancel else None)
        except subprocess.TimeoutExpired:
            if os.path.exists(cancel):
                raise Cancelled(what) from None


def run_one(hook, command, when, step, cancel=None):
    """None when the hook's command exits 0, else the one-line problem. Its own process group: stopping the
    deploy (Ctrl-C, a signal, a cancel request in the file `cancel`) stops the hook with everything it started."""
    import tempfile  # only a hook run needs it, not every entry that imports this module

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, shell=True, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   start_new_session=True)
        try:
            code = finished(process, cancel, "the end of hook %r %s %s" % (hook, when, step))
        except BaseException:
            kill_group(process.pid)
            process.wait()
            raise
        if code == 0:
            return None
        out.seek(0)
        err.seek(0)
        return failure(hook, when, step, code, err.read().decode("utf-8", "replace"),
                       out.read().decode("utf-8", "replace"))


def run(params, when, step):
    """Run the hooks of `when` `step` in order; the first that fails raises ServerError. Returns the hooks run."""
    ran = []
    for hook, command in listed(params, when, step):
        problem = run_one(hook, command, when, step, cancel_file(params))
        if problem:
            raise ServerError(problem)
        ran.append(hook)
    return ran


def after_switch(params, *moments):
    """Hooks while `current` points at the new release, for each (when, step) of `moments`: None, or (with
    undo_on_hook_failure) the first failure as the problem that switches back. Otherwise failures go to
    params["hook_failures"] and the deploy goes on."""
    for when, step in moments:
        for hook, command in listed(params, when, step):
            problem = run_one(hook, command, when, step, cancel_file(params))
            if problem and params.get("undo_on_hook_failure"):
                return problem
            if problem:
                params.setdefault("hook_failures", []).append(problem)
    return None
