"""Errors as values with codes; the edges (HTTP, message) turn them into answers."""


class AppError(Exception):
    code = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidInput(AppError):
    """The caller sent something malformed; nothing was changed."""

    code = "invalid_request"


class NotFound(AppError):
    code = "not_found"


class NotReady(AppError):
    """The contract exists but has no source to serve (yet, or because its scan failed)."""

    code = "not_ready"


class Unavailable(AppError):
    """A dependency (database, broker) cannot be reached; the request may be retried."""

    code = "unavailable"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it (never its secret value)."""
