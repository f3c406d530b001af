"""The one application error that services raise and the API turns into JSON."""


class ApplicationError(Exception):
    """A refusal a user can understand: a message, details, and an HTTP status."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class NotFound(ApplicationError):
    status_code = 404


class Conflict(ApplicationError):
    status_code = 409
