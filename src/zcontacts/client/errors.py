"""Errors raised by the client: every refusal carries Zoho's `code`, its message and the HTTP status."""

from __future__ import annotations

# The code given to a refusal whose body is not a Zoho envelope (a proxy's 502 page, a dropped connection).
NO_CODE = -1


class ZohoAPIError(Exception):
    """A call the server refused: Zoho's `code` (non-zero), `message` and HTTP `status`."""

    def __init__(self, code: int, message: str, status: int) -> None:
        super().__init__(f"{status} code {code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class BadRequest(ZohoAPIError):
    """400: a value the API does not accept (the message names the field)."""


class Unauthorized(ZohoAPIError):
    """401: missing, expired or revoked token, or a missing scope (code 57)."""


class NotFound(ZohoAPIError):
    """404: unknown contact (code 1002), person or address, or an unknown path (code 5)."""


class MethodNotAllowed(ZohoAPIError):
    """405: the path exists, not with this method (code 37)."""


class Conflict(ZohoAPIError):
    """409 or 412: the resource changed meanwhile (ETag precondition, idempotency key reuse)."""


class RateLimited(ZohoAPIError):
    """429: the organization's request budget is spent (code 44); `retry_after` is the server's hint."""

    def __init__(self, code: int, message: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(code, message, status)
        self.retry_after = retry_after


class ServerError(ZohoAPIError):
    """5xx: the server failed (retried for idempotent calls before this is raised)."""


class UnexpectedResponse(ZohoAPIError):
    """A 2xx whose body does not fit the method's model (a field missing or of another type, as another
    server may answer): the call itself succeeded, so a write must not simply be retried. `payload` is the
    response object as sent."""

    def __init__(self, message: str, status: int, payload: dict[str, object]) -> None:
        super().__init__(NO_CODE, message, status)
        self.payload = payload


class OAuthError(ZohoAPIError):
    """The token endpoint refused (Zoho Accounts' `{"error": "invalid_code"}` and the like); `error` names it."""

    def __init__(self, error: str, status: int) -> None:
        super().__init__(NO_CODE, error, status)
        self.error = error


_BY_STATUS: dict[int, type[ZohoAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    412: Conflict,
}


def error_for(status: int, code: int, message: str, retry_after: float | None = None) -> ZohoAPIError:
    """The exception class that fits the status."""
    if status == 429:
        return RateLimited(code, message, status, retry_after)
    if status >= 500:
        return ServerError(code, message, status)
    return _BY_STATUS.get(status, ZohoAPIError)(code, message, status)
