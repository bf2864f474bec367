"""The one error envelope: ``{"error": {"code", "message", "details"}}``.

Domain code raises these (they carry no HTTP framework types); the route wrapper turns them
into responses. Anything else escaping a route is a bug and becomes a 500 envelope.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.code, self.message, self.details)


def error_envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class ValidationFailed(ApiError):
    status, code = 400, "validation_error"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.headers["Retry-After"] = str(max(1, int(retry_after)))
        self.details.setdefault("retry_after", max(1, int(retry_after)))


# --- domain errors: raised by stores and services, mapped to an HTTP answer by the route layer -------


class DomainError(Exception):
    """A rule of the domain refused the operation. Stores and services raise these (never an
    :class:`ApiError`); :func:`chalicelib.core.api.route` maps each kind to its HTTP answer."""

    status: int = 400  # the answer the route layer gives (see api_error)
    code: str = "refused"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}

    def api_error(self) -> ApiError:
        err = ApiError(self.message, code=self.code, details=self.details)
        err.status = self.status
        return err


class Missing(DomainError):
    """The entity does not exist (or is not the caller's to see)."""

    status, code = 404, "not_found"


class Conflicting(DomainError):
    """The entity's current state refuses the change (a concurrent write, a running job, a lease)."""

    status, code = 409, "conflict"


class Invalid(DomainError):
    """The input breaks a domain rule that its schema cannot express (a date range, a file's content)."""

    status, code = 400, "validation_error"


def stale_revision(noun: str, entity_id: str, rev: int, current: int) -> Conflicting:
    """409 ``stale_revision``: the entity changed since the revision the caller read (optimistic concurrency)."""
    key = f"{noun.lower()}_id"
    return Conflicting(
        f"{noun} {entity_id} changed since revision {rev} (now {current}); reload it and try again.",
        code="stale_revision",
        details={key: entity_id, "rev": rev, "current_rev": current},
    )
