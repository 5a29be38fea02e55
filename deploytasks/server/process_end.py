"""Waiting for a child process to end without polling late: a pidfd (Linux 5.3+, Python 3.9+) wakes the waiter
when the process ends; without one, the wait is a plain sleep and the end is seen at the next look."""
import os
import select
import time


def exit_fd(pid):
    """A file descriptor that becomes readable when process `pid` ends, else None (close it after use)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def wait_a_while(fd, seconds):
    """Sleep `seconds`, or less when the process behind `fd` (from exit_fd; None: no pidfd) ends first."""
    if fd is None:
        time.sleep(seconds)
    else:
        select.select([fd], [], [], seconds)
