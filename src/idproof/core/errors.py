"""Domain errors that the web edge maps to RFC 9457 problem+json responses."""

from __future__ import annotations


class IdproofError(Exception):
    """Base of every expected error; `code` is stable and safe to show to API clients."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, *, code: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, object] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.extra = extra or {}


class ValidationFailed(IdproofError):
    status = 422
    code = "validation_failed"
    title = "The request is not valid"


class NotFound(IdproofError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(IdproofError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unauthorized(IdproofError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(IdproofError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class TooManyRequests(IdproofError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class PayloadTooLarge(IdproofError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(IdproofError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class Gone(IdproofError):
    status = 410
    code = "gone"
    title = "Gone"
