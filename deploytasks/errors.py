"""The one error type tasks raise for user-facing problems, and the decorator that reports it."""
import functools

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
