"""Waiting for a child process to end without polling late: a pidfd (Linux 5.3+, Python 3.9+) wakes the waiter
when the process ends; without one, the wait is a plain sleep and the end is seen at the next look."""
import os
import select
import time
from contextlib import contextmanager


def exit_fd(pid):
    """A file descriptor that becomes readable when process `pid` ends, else None (close it after use)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


@contextmanager
def end_watch(pid):
    """wait(seconds): sleeps `seconds`, or less when process `pid` ends first (its pidfd closed on the way out)."""
    fd = exit_fd(pid)

    def wait(seconds):
        if fd is None:
            time.sleep(seconds)
        else:
            select.select([fd], [], [], seconds)

    try:
        yield wait
    finally:
        if fd is not None:
            os.close(fd)
