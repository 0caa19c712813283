"""The errors the core raises. The CLI turns each into one message and an exit code."""


class CaseloadError(Exception):
    """A failure the user can understand; never shown with a traceback."""

    exit_code = 1

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadInput(CaseloadError):
    """Bad usage or bad input: a file, a value, an expression, a config key."""

    exit_code = 2


class NotFound(CaseloadError):
    exit_code = 2


class PermissionDenied(CaseloadError):
    """The acting user's role does not allow this."""

    exit_code = 1

