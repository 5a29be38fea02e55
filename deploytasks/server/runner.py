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
# The bundle needs the standard library alone: started without `site`, it skips the interpreter's site-packages and
# their .pth files (a faster start; a broken .pth or sitecustomize on a server cannot stop a deploy).
NO_SITE = "-S"


def emit(result, out=None):
    out = out or sys.stdout
    out.write("\n" + MARKER + json.dumps(result, default=str) + "\n")
    out.flush()


def run(document):
    """(result document, exit status) of one request."""
    return called(lambda params: resolve(document["entry"])(params), document.get("params") or {})


def called(function, params):
    """(result document, exit status) of function(params): a ServerError is {"error": message} and its code."""
    try:
        return function(params), 0
    except ServerError as exc:
        return {"error": exc.message}, exc.code


def main():
    """One request; or, while a request says "then", the next one read after answering (a conversation: the
    client sends it once it has read this answer). A conversation whose client is gone (stdin's end, silence
    past the request's `silence_limit`, an answer that cannot be written) runs what its entries asked for
    (client_link.when_lost) and ends."""
    link_interpreter(os.environ.pop(RESOLVED_LINK, None))
    compile_beside(os.environ.get("DEPLOYTASKS_PYZ", ""))
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


def twin_of(bundle):
    """The compiled twin of the bundle at `bundle`: its sources and their bytecode for this interpreter."""
    return "%s.%s.pyz" % (bundle[:-len(".pyz")], sys.implementation.cache_tag)


def compile_beside(bundle):
    """Write the bundle's compiled twin beside it (bundle.ENTRY and BOOTSTRAP import from it when it is there),
    once per bundle and interpreter version: unchecked hash-based .pyc files (PEP 552) beside the same .py files,
    stored. It appears whole or not at all (written under a temporary name, then linked); none is written where
    bytecode is not wanted (PYTHONDONTWRITEBYTECODE) or the directory is not writable: the sources serve."""
    if sys.dont_write_bytecode or not bundle.endswith(".pyz") or not sys.implementation.cache_tag:
        return
    twin = twin_of(bundle)
    if os.path.exists(twin):
        return
    partial = "%s.%d.partial" % (twin, os.getpid())
    try:
        write_twin(bundle, partial, twin)
        try:
            os.link(partial, twin)
        except FileExistsError:  # another command made it meanwhile: the same bytes
            pass
    except Exception:  # noqa: BLE001 - bytecode only saves time: without it, the sources serve as before
        pass
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def write_twin(bundle, path, twin):
    """The twin of `bundle` written at `path` (new), its code objects naming the files at `twin`."""
    import importlib.util
    import marshal
    import zipfile

    header = importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little")  # hash-based, source not checked
    with zipfile.ZipFile(bundle) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as target:
            for info, data in entries:
                target.writestr(zipfile.ZipInfo(info.filename, info.date_time), data)
                if info.filename.endswith(".py") and info.filename != "__main__.py":
                    code = compile(data, "%s/%s" % (twin, info.filename), "exec", dont_inherit=True)
                    pyc = header + importlib.util.source_hash(data) + marshal.dumps(code)
                    target.writestr(zipfile.ZipInfo(info.filename[:-3] + ".pyc", info.date_time), pyc)
        handle.flush()
        os.fsync(handle.fileno())


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
