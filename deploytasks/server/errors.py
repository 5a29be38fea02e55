"""The one exception an entry point raises for a user-facing failure."""


class ServerError(Exception):
    """A one-line error for the user; `code` becomes the process's exit status (75: the deploy lock is held)."""

    def __init__(self, message, code=3):
        super().__init__(message)
        self.message = message
        self.code = code
