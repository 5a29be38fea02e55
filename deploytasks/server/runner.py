"""Runs one entry point: reads {"entry": NAME, "params": {...}} (one line) on stdin, prints MARKER + the JSON result.

A ServerError becomes {"error": message} and its exit code, the document deploytasks.shell.parse_marked_text
reads. Anything else is a bug: its traceback goes to stderr and the process exits 1."""
import json
import os
import sys

from . import client_link
from .entries import resolve
from .errors import ServerError

MARKER = "@@DEPLOYTASKS@@"
RESOLVED_LINK = "DEPLOYTASKS_RESOLVED_LINK"  # env: where to link the interpreter this runs in (bundle.run_with)


def emit(result, out=None):
    out = out or sys.stdout
    out.write("\n" + MARKER + json.dumps(result, default=str) + "\n")
    out.flush()


def run(document):
    """(result document, exit status) of one request."""
    try:
        return resolve(document["entry"])(document.get("params") or {}), 0
    except ServerError as exc:
        return {"error": exc.message}, exc.code


def main():
    """One request; or, while a request says "then", the next one read after answering (a conversation: the
    client sends it once it has read this answer). A conversation whose client is gone (stdin's end, silence
    past the request's `silence_limit`, an answer that cannot be written) runs what its entries asked for
    (client_link.when_lost) and ends."""
    link_interpreter(os.environ.pop(RESOLVED_LINK, None))
    document = json.loads(sys.stdin.readline())
    if not document.get("then"):
        result, code = run(document)
        emit(result)
        end(code)
    requests = client_link.Requests()
    while True:
        result, code = run(document)
        try:
            emit(result)
        except OSError:
            client_link.lost("fab went away before it read the answer")
            break
        if not document.get("then"):
            break
        document, gone = requests.next(document.get("silence_limit"))
        if document is None:
            client_link.lost(gone)
            break
    end(code)


def link_interpreter(link):
    """Point `link` at this interpreter (atomically), so that the next command starts it without the shell's
    lookup. A link that cannot be made changes nothing but speed."""
    if not link or not sys.executable:
        return
    partial = "%s.%d.partial" % (link, os.getpid())
    try:
        os.symlink(sys.executable, partial)
        os.replace(partial, link)
    except OSError:
        try:
            os.unlink(partial)
        except OSError:
            pass


def end(code):
    """Exit once the answer is out, without the interpreter's teardown: a loaded Django takes ~0.1 s (a busy
    server ~0.2 s) to tear down, on every step's path. Every thread an entry starts is joined by then, and its
    database connections are closed here, so the database sees a normal goodbye rather than a dropped socket."""
    if "django.db" in sys.modules:
        try:
            sys.modules["django.db"].connections.close_all()
        except Exception:  # noqa: BLE001 - the answer is out; a connection that cannot close says nothing new
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    os._exit(code)
