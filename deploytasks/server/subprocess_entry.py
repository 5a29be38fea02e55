"""Running an entry point in another process (a release's Django, say) and reading its marked answer."""
import json
import re
import subprocess

from .errors import ServerError
from .runner import MARKER
from .tracebacks import exception_line


KILLED = re.compile(r"^(?:(?:\S*sh: (?:line )?\d+: +)?\d+ +(?=\w+\b)|(?=\w+$))(Killed|Terminated)\b")


def meaningful(text):
    """A failed process's telling line: a traceback's exception (tracebacks.exception_line), else the first (a
    shell's error); a process the shell reports killed is said so, without its command line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    return killed_said(lines) or exception_line(text) or lines[0]


def killed_said(lines):
    """How a process the shell reports killed or terminated ended (among its output `lines`), else None."""
    killed = next((KILLED.match(line) for line in lines if KILLED.match(line)), None)
    if not killed:
        return None
    return ("its process was killed (SIGKILL: by hand, or the out-of-memory killer)" if killed.group(1) == "Killed"
            else "its process was terminated (SIGTERM)")


def answer(stdout, stderr, code, what):
    for line in reversed((stdout or "").splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER):])
            if isinstance(data, dict) and "error" in data and len(data) == 1:
                raise ServerError(data["error"], code or 3)
            return data
    raise ServerError("%s failed (exit %d): %s" % (what, code, meaningful(stderr) or meaningful(stdout) or "no output"))


def run_entry(command, entry, params, what, cwd=None, started=None):
    """Run `command` (a shell command starting the bundle's runner) with the request on its stdin. started: that
    command already running (a text-mode Popen with pipes), waiting for its request."""
    request = json.dumps({"entry": entry, "params": params})
    if started is not None:
        stdout, stderr = started.communicate(request)
        return answer(stdout, stderr, started.returncode, what)
    done = subprocess.run(command, shell=True, cwd=cwd, input=request,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return answer(done.stdout, done.stderr, done.returncode, what)


def end_fed(process, timeout=30):
    """End a process fed on stdin that will be sent nothing more (a psql session, a Django waiting for its
    request): its input closed, which ends it, waited for; killed after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    try:
        process.stdin.close()
    except BrokenPipeError:
        pass
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
