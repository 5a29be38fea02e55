"""One SSH command that answers several server-package requests in turn: the next request is sent (on the
command's stdin) only after the client has read the previous answer. A deploy to several hosts keeps a host's
command waiting between phases this way (staged; then migrated, on one host; ready; switched; then recorded or
undone) instead of opening a new session per phase."""
import json
import queue
import threading
import time
from typing import NamedTuple

from invoke.watchers import StreamWatcher

from . import bundle
from .errors import ConnectionLost, DeployTasksError
from .server.runner import MARKER
from .shell import connection_lost, parse_marked_text

ENDED = object()
PING_EVERY = 2.0  # seconds between pings while there is nothing to ask: the host's proof that fab is still there
PING = json.dumps({"ping": True}) + "\n"


class _Requests:
    """The command's stdin: the request lines queued so far; while the command waits for the next one (`idle`), a
    ping every PING_EVERY seconds; None ends it (EOF)."""

    def __init__(self):
        self.lines = queue.Queue()
        self.sent = time.monotonic()
        self.idle = False
        self.ended = False

    def read(self, size=-1):
        if self.ended:  # EOF again at once: Invoke's stdin loop ends within its 10 ms nap of the command's end,
            return ""   # not after another 50 ms wait for a line (every command ended up to 60 ms late)
        try:
            line = self.lines.get(timeout=0.05)
        except queue.Empty:
            if not self.idle or time.monotonic() - self.sent < PING_EVERY:
                return None  # nothing to send yet (Invoke asks again)
            line = PING
        self.sent = time.monotonic()
        if line is None:
            self.ended = True
            return ""
        return line


class _Answers(StreamWatcher):
    """Every complete marker line the command printed, in order, onto a queue."""

    def __init__(self, answers):
        super().__init__()
        self.answers, self.seen = answers, 0

    def submit(self, stream):
        lines = [Answer(text, number) for number, text in enumerate(stream.splitlines(keepends=True))
                 if text.startswith(MARKER) and text.endswith("\n")]
        for line in lines[self.seen:]:
            self.answers.put(line)
        self.seen = max(self.seen, len(lines))
        return []


class Answer(NamedTuple):
    text: str
    line: int  # its line number in the command's output


class BundleMissing(DeployTasksError):
    """The command found no server bundle to run (the caller ships it and starts a new conversation)."""


class Conversation:
    """`command` (a bundle runner) on connection `c`, asked request after request; `open` while it waits."""

    def __init__(self, c, command, what, silence_limit=None):
        self.c, self.command, self.what, self.silence_limit = c, command, what, silence_limit
        self.stdin, self.answers = _Requests(), queue.Queue()
        self.result, self.failure, self.open = None, None, False
        self.answered_lines = 0  # output lines up to the last answer read: what an ended command said after them
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.result = self.c.run(self.command, warn=True, hide=True, in_stream=self.stdin,
                                     watchers=[_Answers(self.answers)], dry=False)
        except Exception as exc:  # noqa: BLE001 - reported by ask() as the command's failure
            self.failure = exc
        finally:
            self.answers.put(ENDED)

    @property
    def started(self) -> bool:
        return self.thread.is_alive() or self.result is not None or self.failure is not None

    @property
    def can_ask(self) -> bool:
        """Not started yet, or waiting for the next request."""
        return self.open or not self.started

    def ask(self, entry, params, then=False, what=None) -> dict:
        """The answer to one request; then: the command waits for another after answering."""
        self.stdin.idle = False
        self.stdin.lines.put(json.dumps({"entry": entry, "params": params, "then": then,
                                           "silence_limit": self.silence_limit}) + "\n")
        if not self.started:
            self.thread.start()
        answer = self.answers.get()
        what = what or self.what
        if answer is ENDED:
            self.open = False
            if self.failure is not None:
                raise DeployTasksError(f"{what} failed: {self.failure}")
            if self.result.exited == bundle.MISSING:
                raise BundleMissing(f"{what} failed: the deploytasks server bundle is missing on the server")
            if connection_lost(self.result):
                raise ConnectionLost(f"the connection to the server was lost (closed or dropped) during {what}")
            unanswered = "".join(self.result.stdout.splitlines(keepends=True)[self.answered_lines:])
            return parse_marked_text(unanswered, self.result.stderr, self.result.exited, what)
        self.answered_lines = answer.line + 1
        self.open = self.stdin.idle = then
        if not then:
            self.close()
        return parse_marked_text(answer.text, "", 0, what)

    def close(self):
        """End the command's stdin (it stops waiting) and wait for it to end."""
        self.abandon()
        if self.thread.is_alive():
            self.thread.join()

    def abandon(self):
        """End the command's stdin, not waiting for the command to end."""
        self.open = False
        if self.thread.is_alive():
            self.stdin.lines.put(None)
