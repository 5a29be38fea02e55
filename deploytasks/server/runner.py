"""Runs one entry point: reads {"entry": NAME, "params": {...}} on stdin, prints MARKER + the JSON result.

A ServerError becomes {"error": message} and its exit code, the document deploytasks.shell.parse_marked_text
reads. Anything else is a bug: its traceback goes to stderr and the process exits 1."""
import json
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
    result, code = run(json.loads(sys.stdin.read()))
    emit(result)
    if code:
        raise SystemExit(code)
