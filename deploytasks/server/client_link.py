"""A conversation's link to its client (a fleet host's command waiting between phases): the next request read
with a limit on silence, and what the host does on its own when the client is gone.

The client sends a ping line while it has nothing to ask (deploytasks/conversation.py), so silence longer than
the limit means it is gone even when no connection was closed (a laptop lid, lost Wi-Fi: sshd notices that
only much later). An entry names what to do then with `when_lost`; the runner calls `lost` once, on stdin's
end, on silence, or when an answer cannot be written."""
import json
import queue
import sys
import threading

_on_lost = [None]
ENDED = object()


def when_lost(action):
    """`action(reason)` runs if the client goes away from now on (None: nothing to do)."""
    _on_lost[0] = action


def lost(reason):
    """The client is gone: run what the entries asked for, once."""
    action, _on_lost[0] = _on_lost[0], None
    if action is not None:
        action(reason)


class Requests:
    """The request lines after the first, read from stdin on a thread (pings skipped)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdin
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in iter(self.stream.readline, ""):
                self.lines.put(line)
        except (OSError, ValueError):
            pass
        self.lines.put(ENDED)

    def next(self, silence_limit=None):
        """(document, None), or (None, why the client is taken as gone)."""
        while True:
            try:
                line = self.lines.get(timeout=silence_limit)
            except queue.Empty:
                return None, "fab sent nothing for %ds (its connection lost?)" % silence_limit
            if line is ENDED or not line.strip():
                return None, "fab went away (its connection closed)"
            document = json.loads(line)
            if "entry" in document:
                return document, None
