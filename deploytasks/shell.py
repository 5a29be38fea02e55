"""Running commands and scripts through an Invoke Context or a Fabric Connection."""
import base64
import hashlib
import io
import json
import shlex
import signal
from dataclasses import dataclass

from . import bundle
from .errors import ConnectionLost, DeployTasksError
from .output import console
from .server.subprocess_entry import killed_said
from .server.tracebacks import exception_line

MARKER = "@@DEPLOYTASKS@@"


def q(value) -> str:
    """Quote one value for a POSIX shell."""
    return shlex.quote(str(value))


def join(*words) -> str:
    return " ".join(q(word) for word in words)


def is_dry(c) -> bool:
    return bool(c.config.run.dry)


@dataclass
class DryResult:
    command: str
    stdout: str = ""
    stderr: str = ""
    exited: int = 0

    @property
    def ok(self):
        return True

    @property
    def failed(self):
        return False


def interrupted(result) -> bool:
    """The command was ended by SIGINT: the terminal's Ctrl-C reached it with us (Invoke waits for it to end), and
    it died of it, or a Python it ran ended on the KeyboardInterrupt (a traceback line of its own: the last one, or
    before a segfault's at exit)."""
    if result.exited == -signal.SIGINT:
        return True
    lines = [line.strip() for line in (result.stderr or "").splitlines()]
    return bool(result.exited) and "KeyboardInterrupt" in lines  # (a Python that then died of a segfault too)


def summary(result) -> str:
    """The most telling line of a failed command's output."""
    if interrupted(result):
        return "interrupted (Ctrl-C)"
    for stream in (result.stderr, result.stdout):
        lines = [line.strip() for line in (stream or "").splitlines() if line.strip()]
        lines = [line for line in lines if not line.startswith(MARKER)]
        if lines:
            return killed_said(lines) or exception_line("\n".join(lines)) or lines[-1]
    if result.exited == -1:  # over SSH: the command's process ended by a signal, the connection still up
        return "its process was killed (it ended by a signal, with no exit status)"
    return f"exit status {result.exited}"


def was_killed(message) -> bool:
    """Whether a failure's message says its process was killed or terminated (summary)."""
    return "its process was killed (" in message or "its process was terminated (" in message


def connection_lost(result) -> bool:
    """The command got no exit status because the SSH connection went away (not: killed by a signal)."""
    connection = getattr(result, "connection", None)
    return result.exited == -1 and connection is not None and not getattr(connection, "is_connected", True)


def run(c, command, *, what, changes=True, check=True, stream=False, in_stream=False, pty=False, env=None, watchers=()):
    """Run a shell command; a failure becomes DeployTasksError naming `what`.

    Commands that change something only print themselves under `--dry`; read-only
    commands (changes=False) run even then, so a dry run can say what it would do.
    """
    if changes and is_dry(c):
        console.print(f"[dim]dry-run:[/] {command}", highlight=False, soft_wrap=True)
        return DryResult(command)
    kwargs = dict(warn=True, hide=not stream, in_stream=in_stream, pty=pty, dry=False)
    if env:
        kwargs["env"] = env
    if watchers:
        kwargs["watchers"] = list(watchers)
    after_start = hasattr(c, "host") and not stream and not pty  # a server's shell may print as it starts (~/.bashrc)
    result = c.run(START_LINES + command if after_start else command, **kwargs)
    if after_start:
        result.stdout, result.stderr = after_start_line(result.stdout), after_start_line(result.stderr)
    if check and connection_lost(result):
        raise ConnectionLost(f"the connection to the server was lost (closed or dropped) during {what}")
    if check and result.failed:
        raise DeployTasksError(failure(result, what))
    return result


def failure(result, what, telling=None) -> str:
    """The error line of a failed command: `what` failed and why (`telling`, else its output's last line); or that
    Ctrl-C stopped it."""
    if interrupted(result):
        return f"interrupted (Ctrl-C) during {what}"
    return f"{what} failed: {telling or summary(result)}"


START = "@@DEPLOYTASKS-START@@"
START_LINE = f"printf '%s\\n' {START}; "  # before a server command's own output: what came earlier is its shell's
START_LINES = f"{START_LINE}printf '%s\\n' {START} >&2; "  # the same on stderr too


def after_start_line(text: str) -> str:
    """What a command printed after START_LINES: not what the server's shell start-up printed before it."""
    _, mark, rest = (text or "").partition(START + "\n")
    return rest if mark else text


def written_from_stdin(path, data: bytes) -> tuple:
    """Shell that writes `data`, sent base64 on the command's stdin, into `path` (created 0600 before any byte is
    written) and checks the bytes written against its sha256 (a connection lost mid-way leaves a short file); with
    the stdin to run it with."""
    command = (f"(umask 077 && base64 -d > {q(path)}) && "
               f"test \"$(sha256sum < {q(path)} | cut -d ' ' -f 1)\" = {hashlib.sha256(data).hexdigest()}")
    return command, WholeInput(base64.b64encode(data).decode())


class WholeInput(io.StringIO):
    """Stdin for a command, handed over in large reads (Invoke asks file-like input for one byte at a time)."""

    def read(self, size=-1):
        return super().read(1 << 16)


def request(entry, params) -> str:
    """The stdin of a server-package command: which entry point to run, and its parameters."""
    return json.dumps({"entry": entry, "params": params})


def parse_marked(result, what):
    """The JSON a script printed after the marker; its error becomes DeployTasksError (ConnectionLost when the
    connection dropped before the command could answer)."""
    if connection_lost(result) and MARKER not in (result.stdout or ""):
        raise ConnectionLost(f"the connection to the server was lost (closed or dropped) during {what}")
    return parse_marked_text(result.stdout, result.stderr, result.exited, what)


def parse_marked_text(stdout, stderr, exited, what):
    for line in reversed((stdout or "").splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER):])
            if isinstance(data, dict) and "error" in data and len(data) == 1:
                raise DeployTasksError(data["error"])
            return data
    raise DeployTasksError(f"{what} failed: {summary(DryResult('', stdout, stderr, exited))}")


def run_script(c, command, name, params, *, what, changes=False, description=None, tools=None, started=None):
    """Run entry point `name` of deploytasks/server (see server/entries.py) with `command`, which runs the
    bundle that $DEPLOYTASKS_PYZ names; its parameters travel on stdin, never argv; returns its JSON.
    tools: the server directory for the bundle (None: run locally); when the bundle is not there yet, it is
    shipped and the command runs once more. started: that command already running and waiting for a request (an
    object with can_ask and ask(entry, params, what), e.g. restores.WarmRestore): asked instead of starting it again."""
    if changes and is_dry(c):
        console.print(f"[dim]dry-run:[/] {command} < ({description or name} script)", highlight=False, soft_wrap=True)
        return None
    if started is not None and started.can_ask:
        return started.ask(name, params, what=what)
    document = request(name, params)
    result = c.run(bundle.locator(tools) + command, warn=True, hide=True, in_stream=WholeInput(document), dry=False)
    if tools and result.exited == bundle.MISSING:
        bundle.ship(c, tools)
        result = c.run(bundle.locator(tools) + command, warn=True, hide=True, in_stream=WholeInput(document), dry=False)
    return parse_marked(result, what)
