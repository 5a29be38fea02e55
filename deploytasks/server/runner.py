"""Runs one entry point: reads {"entry": NAME, "params": {...}} (one line) on stdin, prints MARKER + the JSON result.

A ServerError becomes {"error": message} and its exit code, the document deploytasks.shell.parse_marked_text
reads. Anything else is a bug: its traceback goes to stderr and the process exits 1."""
import json
import os
import sys

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
    client sends it once it has read this answer; EOF or an empty line ends it)."""
    document = json.loads(sys.stdin.readline())
    conversation = bool(document.get("then"))
    while True:
        result, code = run(document)
        emit(result)
        if not document.get("then"):
            break
        line = sys.stdin.readline()
        if not line.strip():
            break
        document = json.loads(line)
    if conversation:  # a fleet host's command (often a whole Django): its answers are out, nothing is left open
        sys.stdout.flush()  # that needs the interpreter's teardown, which takes a busy server ~0.2 s
        sys.stderr.flush()
        os._exit(code)
    if code:
        raise SystemExit(code)
