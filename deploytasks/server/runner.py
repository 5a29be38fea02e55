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
    document = json.loads(sys.stdin.readline())
    if not document.get("then"):
        result, code = run(document)
        emit(result)
        if code:
            raise SystemExit(code)
        return
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
    # a fleet host's command (often a whole Django): its answers are out, nothing is left open that needs the
    # interpreter's teardown, which takes a busy server ~0.2 s
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    os._exit(code)
