"""The two hot reads — GET /contacts/{id} and GET /contacts (list) — answered before the framework.

Litestar's request cycle (routing, the request object, the response object, exception middleware, hooks) is
about 60 % of the CPU a served GET costs (docs/PERFORMANCE.md). For the common case only — a well-formed token
that holds the read scope and the organization header naming the token's organization — this answers directly:
the same checks, the same rate-limit count, the same read and the same bytes and headers as
`ContactsController.retrieve` and `.list_customers`. Anything else (no or bad token, a missing header, an
organization given only in the query string, a duplicate header, any other path or method) is handed to the
framework untouched, which answers it as always; tests/api/test_fast_path.py compares the two paths response
by response.

Once a request has been counted against the rate limit it is never handed on (it would be counted twice): a
429, a 404, a 400 for a bad list parameter or an internal error are rendered here, in the envelopes the
framework's exception handlers render."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from litestar._parsers import parse_query_string  # the framework's own parser: identical parameters

from zcontacts.api.auth import ORGANIZATION_HEADER, GrantCache, admits
from zcontacts.api.contacts import contact_body, list_body
from zcontacts.api.context import MOUNTS
from zcontacts.api.observe import ORGANIZATION_KEY, REQUEST_ID_KEY
from zcontacts.api.ratelimit import SCOPE_KEY, RateLimiter
from zcontacts.api.responses import JSON, message_body
from zcontacts.domain.ids import as_id
from zcontacts.domain.listing import parse_list_query
from zcontacts.domain.scopes import Access
from zcontacts.errors import InternalError, TooManyRequests, ZohoError
from zcontacts.storage.database import Database

if TYPE_CHECKING:
    from litestar.types import Scope

log = logging.getLogger("zcontacts")

# A mount of the Customers routes, then an id segment or none (the list).
_PATH = re.compile(f"({'|'.join(map(re.escape, MOUNTS))})/contacts(?:/([0-9]{{1,19}}))?")
_AUTHORIZATION = b"authorization"
_ORGANIZATION = ORGANIZATION_HEADER.encode()
_CONTENT_TYPE = (b"content-type", JSON.encode())

Headers = list[tuple[bytes, bytes]]
# status, headers, body
Answer = tuple[int, Headers, bytes]


class FastPath:
    """Answers the common case of the two hot reads, or returns None to leave a request to the framework."""

    def __init__(self, database: Database, grants: GrantCache, limiter: RateLimiter | None) -> None:
        self.database = database
        self.grants = grants
        self.limiter = limiter

    async def answer(self, scope: Scope) -> Answer | None:
        """The response to a hot read, or None when the request is not the common case."""
        if scope["method"] != "GET" or scope.get("root_path"):  # type: ignore[typeddict-item]
            return None
        matched = _PATH.fullmatch(scope["path"])
        if matched is None:
            return None
        mount, id_text = matched[1], matched[2]
        key = None if id_text is None else as_id(id_text)
        if id_text is not None and key is None:
            return None
        organization_id = await self._authorized(scope)
        if organization_id is None:
            return None
        scope[ORGANIZATION_KEY] = organization_id  # type: ignore[literal-required]
        # The label Litestar's router gives these routes (metrics and the access log).
        scope["path_template"] = f"{mount}/contacts" if key is None else f"{mount}/contacts/{{contact_id}}"
        # Counted: from here on the request is answered here, whatever happens.
        # (The observer adds the budget's headers to whatever response follows.)
        if self.limiter is not None:
            budget = await self.limiter.hit(organization_id)
            scope[SCOPE_KEY] = budget  # type: ignore[literal-required]
            if not budget.allowed:
                return _error(TooManyRequests())
        try:
            if key is None:
                query = parse_list_query(parse_query_string(scope["query_string"]))
                body = await list_body(self.database, organization_id, query, MOUNTS[mount].list_key)
                return _json(200, body, [])
            body, etag = await contact_body(self.database, organization_id, key)
            return _json(200, body, [(b"etag", etag.encode())])
        except ZohoError as exc:  # a bad list parameter; the pool exhausted (503 with Retry-After)
            return _error(exc)
        except Exception:
            log.exception(
                "unhandled error on GET %s", scope["path"], extra={"request_id": scope.get(REQUEST_ID_KEY)}
            )
            return _error(InternalError())

    async def _authorized(self, scope: Scope) -> str | None:
        """The organization the request addresses when its token may read it, else None."""
        authorization = organization_id = None
        for name, value in scope["headers"]:
            if name == _AUTHORIZATION:
                if authorization is not None:
                    return None
                authorization = value.decode("latin-1")
            elif name == _ORGANIZATION:
                if organization_id is not None:
                    return None
                organization_id = value.decode("latin-1").strip()
        if not organization_id:
            return None
        try:
            grant = await self.grants.for_header(authorization)
        except Exception:  # NotAuthorized, or a failing lookup the framework's path meets and renders too
            return None
        if grant is None or not admits(grant, Access.READ):
            return None
        return organization_id if organization_id == grant.organization.organization_id else None


def _error(error: ZohoError) -> Answer:
    """The envelope of a refusal, as the framework's exception handler renders it."""
    own = [(name.lower().encode(), value.encode()) for name, value in error.headers().items()]
    return _json(int(error.status), message_body(error.code, error.message), own)


def _json(status: int, body: bytes, first: Headers) -> Answer:
    return status, [*first, _CONTENT_TYPE, (b"content-length", str(len(body)).encode())], body
