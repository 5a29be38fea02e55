"""Console output: status lines, tables and JSON."""
import contextlib
import json
import sys

from rich.console import Console

console = Console(highlight=False)
if not console.is_terminal:  # a log or a pipe: lines whole (a grep finds them), tables 160 columns wide
    console = Console(highlight=False, width=160, soft_wrap=True)


@contextlib.contextmanager
def messages_to_stderr(active=True):
    """With --json: the status lines go to stderr, so that stdout holds the JSON alone."""
    previous = console.file
    if active:
        console.file = sys.stderr
    try:
        yield
    finally:
        console.file = previous


@contextlib.contextmanager
def json_outcome(active, **fields):
    """With --json, what a task returns as one document on stdout: `fields` and the result with "ok": true, or
    "ok": false and the error (which then goes on as usual: its line on stderr, exit 1). Yields a dict to fill."""
    result = {}
    try:
        yield result
    except (Exception, KeyboardInterrupt) as exc:
        if active:
            error = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__
            print_json(dict(fields, ok=False, error=error))
        raise
    if active:
        print_json(dict(fields, ok=True, **result))


def say(message: str) -> None:
    console.print(message)


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def table(title, columns, rows):
    """A rich Table (imported here: most commands draw none)."""
    from rich.table import Table

    grid = Table(title=title, title_justify="left", show_lines=False)
    for index, column in enumerate(columns):
        grid.add_column(column, no_wrap=index == 0)
    for row in rows:
        grid.add_row(*[str(cell) for cell in row])
    return grid


def show(renderable) -> None:
    console.print(renderable)
