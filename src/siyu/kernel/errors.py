"""Domain errors that the edges (API, console) translate into one error shape.

Services raise these; ``api`` turns them into ``{"code", "message", "fields"}`` with the right status.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str = "", *, code: str | None = None, fields: dict[str, list[str]] | None = None):
        super().__init__(message or self.code)
        self.message = message or self.code
        if code:
            self.code = code
        self.fields = fields or {}


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"


class NotFound(DomainError):
    """Also used for records that exist but are out of the actor's scope: 404 leaks nothing."""

    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str = "", *, retry_after: int = 1, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after
