# Prepended to every script deploytasks runs on the target side (local or server).
# PARAMS is injected above this line as a JSON literal.
import hashlib
import json
import os
import sys

MARKER = "@@DEPLOYTASKS@@"


def emit(result):
    sys.stdout.write("\n" + MARKER + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def fail(message, code=3):
    sys.stdout.write("\n" + MARKER + json.dumps({"error": message}) + "\n")
    sys.stdout.flush()
    raise SystemExit(code)


def sha256_of(path, blocksize=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(blocksize), b""):
            digest.update(block)
    return digest.hexdigest()


def write_private(path, data):
    """Write bytes/str to path with mode 0600, atomically (temp file + rename)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
