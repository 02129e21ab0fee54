"""The one table of Zoho error codes: every refusal the server makes is a ZohoError below.

Codes 57, 1000, 1002 and 6041 are the ones Zoho documents; the rest follow Zoho Books where its codes are
known (1038 for malformed JSON, 5 for an unknown URL, 37 for a wrong method, 44 for throttling) and are listed
in the README's error table.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import ClassVar


class ZohoError(Exception):
    """Root of every refusal: carries Zoho's `code`, the HTTP status and a message for the client."""

    code: ClassVar[int] = 1000
    status: ClassVar[int] = HTTPStatus.INTERNAL_SERVER_ERROR
    default_message: ClassVar[str] = "Internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Extra response headers of this refusal (Retry-After, …)."""
        return {}


class InternalError(ZohoError):
    """An unexpected failure on our side; the client sees no detail."""


class InvalidValue(ZohoError):
    """A field, header or query parameter holds a value the API does not accept."""

    code = 2
    status = HTTPStatus.BAD_REQUEST
    default_message = "Invalid value passed."


class RequiredField(ZohoError):
    """A mandatory field is missing or empty."""

    code = 11
    status = HTTPStatus.BAD_REQUEST


class FieldTooLong(ZohoError):
    """A string is longer than Zoho allows for that field."""

    code = 15
    status = HTTPStatus.BAD_REQUEST


class MalformedJSON(ZohoError):
    """The body is not a JSON object."""

    code = 1038
    status = HTTPStatus.BAD_REQUEST
    default_message = "JSON is not well formed"


class UnsupportedMediaType(ZohoError):
    """The body is sent with a content type the endpoint does not read."""

    code = 2
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    default_message = "Unsupported content type: send the body as application/json."


class BodyTooLarge(ZohoError):
    """The body is over the configured size limit."""

    code = 2
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_message = "The request body is too large."


class ClientClosedRequest(ZohoError):
    """The client went away before its body arrived: its mistake, not a server error (and never seen by it)."""

    code = 2
    status = HTTPStatus.BAD_REQUEST
    default_message = "The client closed the connection before the request body arrived."


class HeadersTooLarge(ZohoError):
    """The request line and headers run past the bound `serve` sets (zcontacts/http_protocol.py)."""

    code = 2
    status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    default_message = "The request's headers are too large."


class HeadersTimedOut(ZohoError):
    """The request line and headers did not arrive in time (zcontacts/http_protocol.py)."""

    code = 2
    status = HTTPStatus.REQUEST_TIMEOUT
    default_message = "The request's headers did not arrive in time."


class DuplicateName(ZohoError):
    """Another customer of the organization already has this name (ignoring case)."""

    code = 3062
    status = HTTPStatus.BAD_REQUEST


class NotAuthorized(ZohoError):
    """Missing, malformed, unknown, expired or revoked token, or a token without the needed scope."""

    code = 57
    status = HTTPStatus.UNAUTHORIZED
    default_message = "You are not authorized to perform this operation"


class OrganizationMissing(ZohoError):
    """Neither the organization header nor the organization_id query parameter was sent."""

    code = 2
    status = HTTPStatus.BAD_REQUEST
    default_message = (
        "Invalid value passed for organization: send the X-com-zoho-expense-organizationid header "
        "(X-com-zoho-books-organizationid from Books clients) or the organization_id query parameter."
    )


class OrganizationNotAssociated(ZohoError):
    """The organization is unknown, or not the one the token belongs to."""

    code = 6041
    status = HTTPStatus.BAD_REQUEST

    def __init__(self, organization_id: str) -> None:
        super().__init__(f"This user is not associated with the CompanyID/CompanyName:{organization_id}.")


class NotFound(ZohoError):
    """The addressed resource does not exist in this organization."""

    code = 1002
    status = HTTPStatus.NOT_FOUND
    default_message = "Customer does not exist."


class InvalidURL(ZohoError):
    """No route matches the path."""

    code = 5
    status = HTTPStatus.NOT_FOUND
    default_message = "Invalid URL Passed"


class MethodNotAllowed(ZohoError):
    """The path exists but not with this HTTP method."""

    code = 37
    status = HTTPStatus.METHOD_NOT_ALLOWED

    def __init__(self, method: str) -> None:
        super().__init__(f"The HTTP method {method} is not allowed for the requested resource")


class TooManyRequests(ZohoError):
    """The organization used up its request budget for the current window."""

    code = 44
    status = HTTPStatus.TOO_MANY_REQUESTS
    default_message = "You have made too many requests continuously. Please try again after some time."


class PreconditionFailed(ZohoError):
    """An If-Match header names a version of the contact that is no longer the stored one."""

    code = 2
    status = HTTPStatus.PRECONDITION_FAILED
    default_message = (
        "Invalid value passed for If-Match: the customer has changed since it was read. "
        "Read it again (GET) and retry with its current ETag."
    )


class IdempotencyKeyReused(ZohoError):
    """An Idempotency-Key header was used before for a different request."""

    code = 2
    status = HTTPStatus.CONFLICT
    default_message = (
        "Invalid value passed for Idempotency-Key: it was already used with a different request in the "
        "last 24 hours. Send a new key for a new request."
    )


class ServiceBusy(ZohoError):
    """No database connection was free in time (the pool is exhausted): the client should retry shortly."""

    code = 1000
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "Service unavailable: the server is busy. Please try again after some time."
    retry_after_seconds: ClassVar[int] = 1

    def headers(self) -> dict[str, str]:
        """Retry-After, as a 429 carries it."""
        return {"Retry-After": str(self.retry_after_seconds)}


class DatabaseUnavailable(ServiceBusy):
    """The database refused a new connection (down, restarting, failing over): to the client, a busy server."""


class SchemaBehind(ServiceBusy):
    """A table this code reads is not in the database yet (`serve` with auto-migrate off, before `db
    upgrade`): the client should retry once the upgrade has run."""

    default_message = (
        "Service unavailable: the database schema is behind this server's; an operator has to run "
        "`zcontacts db upgrade`. Please try again after some time."
    )
    retry_after_seconds: ClassVar[int] = 5


class NotReady(ZohoError):
    """This server cannot serve now: its database is unreachable or its schema is behind this code's."""

    code = 1000
    status = HTTPStatus.SERVICE_UNAVAILABLE
    default_message = "Service unavailable: the database is not reachable."
