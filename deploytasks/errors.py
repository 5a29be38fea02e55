"""The one error type tasks raise for user-facing problems, and the decorator that reports it."""
import contextlib
import functools
import os
import signal
import threading

from invoke.exceptions import Exit


class DeployTasksError(Exception):
    """A problem the user can fix; reported as one line, without a traceback."""


class ConnectionLost(DeployTasksError):
    """The SSH connection dropped while a server command ran (its exit status never arrived)."""


def reported(function):
    """Turn DeployTasksError into a one-line message and exit status 1; Ctrl-C where no step said what it left
    into one line too (Invoke's own exit on it is silent)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            with ctrl_c_never_lost():
                return function(*args, **kwargs)
        except DeployTasksError as exc:
            clear_interrupt_mark()
            raise Exit(f"deploytasks: error: {exc}", code=1) from None
        except KeyboardInterrupt:
            clear_interrupt_mark()
            raise Exit("deploytasks: error: interrupted (Ctrl-C)", code=1) from None
        except Exception as exc:
            if not lost_connection(exc):
                raise
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise Exit(f"deploytasks: error: the connection to the server was lost ({detail}): what the server side "
                       "was doing finishes or is undone there, and its lock is freed; run the task again",
                       code=1) from None

    return wrapper


UNRAISABLE_HERE = (("<frozen importlib._bootstrap>", "cb"),)  # the import lock's weakref callback


def raised_where_it_is_lost(frame) -> bool:
    """Whether an exception raised in `frame` would be printed as `Exception ignored in: …` and dropped: Python
    runs a signal's handler in whatever code runs then, a weakref callback or a __del__ included."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or (code.co_filename, code.co_name) in UNRAISABLE_HERE:
            return True
        frame = frame.f_back
    return False


def interrupt(signum, frame):
    """SIGINT as Python's own handler, except where its KeyboardInterrupt would be lost: there it comes again a
    moment later (a Ctrl-C during a backup's download, landing in an import's lock callback, printed a traceback
    fragment and let the backup go on as if nothing had been pressed)."""
    if raised_where_it_is_lost(frame):
        threading.Timer(0.02, os.kill, (os.getpid(), signal.SIGINT)).start()
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_never_lost():
    """interrupt() as the SIGINT handler while a task runs (only in place of Python's default one, in the main
    thread: a step's own handler, supervised.CtrlC, stays in charge while it runs)."""
    installed = (threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if installed:
        signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def clear_interrupt_mark():
    """CPython marks the process to end by SIGINT at exit when a KeyboardInterrupt leaves code that exec() runs
    from a string (a dataclass or namedtuple being made in a lazy import when Ctrl-C comes), even once that
    KeyboardInterrupt is caught and reported: `fab` printed its one line and exited -2 instead of 1. Each such
    exec() clears the mark first, so an exec() of nothing clears it."""
    exec("pass")


def lost_connection(exc) -> bool:
    """An exception of a connection that went away under a step no step reported (paramiko's EOFError on a
    channel of a closed transport, a reset socket)."""
    import sys

    paramiko = sys.modules.get("paramiko")  # `inv` never imports it
    return (isinstance(exc, (EOFError, ConnectionResetError, ConnectionAbortedError))
            or bool(paramiko and isinstance(exc, paramiko.SSHException)))
