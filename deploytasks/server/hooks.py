"""Hooks on the server: the user's commands before/after a deploy step, run in the new release. The client
built each shell command (deploytasks/hooks.py); params["hooks"] is {when: {step: [[hook, command], ...]}}.
Before the switch a failing hook raises ServerError (the deploy undoes itself, nothing switched); after it,
failures are collected for the report unless params["undo_on_hook_failure"] makes them the deploy's problem."""
import subprocess
import tempfile

from .commands import kill_group
from .errors import ServerError


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


def run_one(hook, command, when, step):
    """None when the hook's command exits 0, else the one-line problem. Its own process group: stopping the
    deploy (Ctrl-C, a signal) stops the hook with everything it started."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, shell=True, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   start_new_session=True)
        try:
            code = process.wait()
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
        problem = run_one(hook, command, when, step)
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
            problem = run_one(hook, command, when, step)
            if problem and params.get("undo_on_hook_failure"):
                return problem
            if problem:
                params.setdefault("hook_failures", []).append(problem)
    return None
