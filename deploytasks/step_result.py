"""What a shared step did: a `StepResult` reads as its one-line detail (what tables and logs show) and carries
`status` beside it, so callers and tests ask what happened rather than match sentences."""

STATUSES = ("done", "kept", "skipped", "dry")


class StepResult(str):
    """status: done (it changed something), kept (already as wanted), skipped (turned off or not possible now),
    dry (a dry run: nothing was done)."""

    status: str

    def __new__(cls, status, detail):
        if status not in STATUSES:
            raise ValueError(f"unknown step status {status!r} (one of {', '.join(STATUSES)})")
        result = super().__new__(cls, detail)
        result.status = status
        return result

    @property
    def detail(self) -> str:
        return str.__str__(self)

    @property
    def changed(self) -> bool:
        return self.status == "done"


def done(detail) -> StepResult:
    return StepResult("done", detail)


def kept(detail) -> StepResult:
    return StepResult("kept", detail)


def skipped(detail) -> StepResult:
    return StepResult("skipped", detail)


def dry(detail) -> StepResult:
    return StepResult("dry", detail)


COLOURS = {"done": "green", "kept": "dim", "skipped": "yellow", "dry": "cyan"}


def marked(outcome) -> str:
    """The outcome with Rich colour markup by its status (plain text for anything else)."""
    colour = COLOURS.get(getattr(outcome, "status", None))
    return f"[{colour}]{outcome}[/]" if colour else str(outcome)
