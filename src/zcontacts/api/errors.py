"""One handler renders every refusal as `{"code": …, "message": …}`; framework errors are translated first."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE

from zcontacts.api.context import path_of
from zcontacts.api.observe import REQUEST_ID_KEY
from zcontacts.api.responses import json_response, message_body
from zcontacts.errors import (
    BodyTooLarge,
    ClientClosedRequest,
    InternalError,
    InvalidURL,
    InvalidValue,
    MethodNotAllowed,
    SchemaBehind,
    ZohoError,
)
from zcontacts.storage.engine import missing_table

log = logging.getLogger("zcontacts")
# What Litestar's Request raises (as a 500) when the client goes away while its body is read.
DISCONNECTED = "client disconnected prematurely"


def render(error: ZohoError, headers: dict[str, str] | None = None) -> Response[bytes]:
    """The Zoho envelope of an error."""
    return json_response(message_body(error.code, error.message), status=int(error.status), headers=headers)


def zoho_error(_request: Request[Any, Any, Any], exc: ZohoError) -> Response[bytes]:
    """Refusals raised by zcontacts itself."""
    return render(exc, exc.headers() or None)


def framework_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own HTTP errors, re-dressed in the Zoho envelope."""
    if isinstance(exc, NotFoundException):
        return render(InvalidURL())
    if isinstance(exc, MethodNotAllowedException):
        return render(MethodNotAllowed(request.method), headers=dict(exc.headers or {}))
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return render(BodyTooLarge())
    if isinstance(exc, ValidationException):
        return render(InvalidValue(f"Invalid value passed: {exc.detail}"))
    if exc.detail == DISCONNECTED:
        return render(ClientClosedRequest())
    if exc.status_code < 500:
        error = InvalidValue(str(exc.detail))
        return json_response(message_body(error.code, error.message), status=exc.status_code)
    return internal_error(request, exc)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Anything unexpected: logged with its trace here, never shown to the client. A table the database does
    not have yet is a 503 (`serve` with auto-migrate off, before `db upgrade`), logged without a trace."""
    if missing_table(exc):
        error = schema_behind(exc)
        return render(error, error.headers())
    log.error(
        "unhandled error on %s %s",
        request.method,
        path_of(request),
        exc_info=exc,
        extra={"request_id": request.scope.get(REQUEST_ID_KEY)},
    )
    return render(InternalError())


def schema_behind(exc: Exception) -> SchemaBehind:
    """The 503 for a statement that met a table the schema lacks (`missing_table`), logged once, no trace: the
    framework's path (internal_error) and the fast path both answer with it."""
    log.warning("database schema behind this server's (%s): answering 503; run `zcontacts db upgrade`", exc)
    return SchemaBehind()


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ZohoError: zoho_error,
    HTTPException: framework_error,
    Exception: internal_error,
}
