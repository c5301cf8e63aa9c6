"""Domain errors with stable codes. Services raise them; the edges map them once."""

from __future__ import annotations


class DomainError(Exception):
    """Base class. ``code`` is stable (clients switch on it); ``status`` is the HTTP mapping."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class ValidationFailed(DomainError):
    status = 422
    code = "VALIDATION_ERROR"


class NotAuthenticated(DomainError):
    status = 401
    code = "NOT_AUTHENTICATED"


class Forbidden(DomainError):
    status = 403
    code = "FORBIDDEN"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"


class RateLimited(DomainError):
    status = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
