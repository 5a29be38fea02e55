"""Invoke's local runner, except that Ctrl-C while a command runs whose stdin was already sent whole (a server
entry's request, run here) is not a traceback: Invoke writes Ctrl-C's byte to that closed stdin and raised
`ValueError: I/O operation on closed file` in place of the KeyboardInterrupt. The terminal's SIGINT reached the
command anyway (its process group); Invoke then waits for it to end, so its own exit says what it did."""
from invoke.runners import Local


class LocalRunner(Local):
    def send_interrupt(self, interrupt):
        try:
            super().send_interrupt(interrupt)
        except (ValueError, OSError):  # stdin closed: there is nothing to write the byte to
            pass
