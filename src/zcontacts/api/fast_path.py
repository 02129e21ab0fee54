"""The hot routes — GET /contacts/{id}, the list, and the three writes (POST /contacts, PUT and DELETE
/contacts/{id}) — answered before the framework.

Litestar's request cycle (routing, the request object, the response object, exception middleware, hooks) is
about 60 % of the CPU a served GET costs (docs/PERFORMANCE.md). For the common case only — a well-formed token
that holds the route's scope and the organization header naming the token's organization; for a write also a
JSON body with its Content-Length within the size limit and no Idempotency-Key — this answers directly: the same
checks, the same rate-limit count, the same transaction and the same bytes and headers as `ContactsController`.
Anything else (no or bad token, a missing header, an organization given only in the query string, a duplicate
header, a form or chunked body, an Idempotency-Key, any other path or method) is handed to the framework
untouched, which answers it as always; tests/api/test_fast_path.py and test_fast_path_writes.py compare the
two paths response by response.

Once a request has been counted against the rate limit it is never handed on (it would be counted twice): a
429, a 404, a 400 for a bad parameter or body, a 412 or an internal error are rendered here, in the envelopes
the framework's exception handlers render."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from litestar._parsers import parse_query_string  # the framework's own parser: identical parameters

from zcontacts.api.auth import ORGANIZATION_HEADER, GrantCache, admits
from zcontacts.api.bodies import decode
from zcontacts.api.contacts import (
    CREATE_BODY,
    UPDATE_BODY,
    contact_body,
    create_work,
    delete_work,
    list_body,
    update_work,
)
from zcontacts.api.context import MOUNTS
from zcontacts.api.errors import schema_behind
from zcontacts.api.idempotency import IDEMPOTENCY_HEADER, Reply
from zcontacts.api.observe import ORGANIZATION_KEY, REQUEST_ID_KEY
from zcontacts.api.preconditions import IF_MATCH_HEADER
from zcontacts.api.ratelimit import SCOPE_KEY, RateLimiter
from zcontacts.api.responses import JSON, message_body
from zcontacts.domain.ids import as_id
from zcontacts.domain.listing import parse_list_query
from zcontacts.domain.scopes import Access
from zcontacts.domain.tokens import Grant
from zcontacts.errors import (
    ClientClosedRequest,
    InternalError,
    ServiceBusy,
    TooManyRequests,
    ZohoError,
)
from zcontacts.storage.database import Database
from zcontacts.storage.engine import missing_table

if TYPE_CHECKING:
    from litestar.types import Receive, Scope

log = logging.getLogger("zcontacts")

# A mount of the Customers routes, then an id segment or none (the list).
_PATH = re.compile(f"({'|'.join(map(re.escape, MOUNTS))})/contacts(?:/([0-9]{{1,19}}))?")
_AUTHORIZATION = b"authorization"
_ORGANIZATION = ORGANIZATION_HEADER.encode()
_CONTENT_TYPE = (b"content-type", JSON.encode())
_IF_MATCH = IF_MATCH_HEADER.encode()
_IDEMPOTENCY_KEY = IDEMPOTENCY_HEADER.encode()
# Request headers read here; a request repeating any of them goes to the framework.
_READ = frozenset((_AUTHORIZATION, _ORGANIZATION, b"content-type", b"content-length", b"transfer-encoding",
                   _IF_MATCH, _IDEMPOTENCY_KEY))  # fmt: skip
_WRITES = {"POST": Access.CREATE, "PUT": Access.UPDATE, "DELETE": Access.DELETE}

Headers = list[tuple[bytes, bytes]]
# status, headers, body
Answer = tuple[int, Headers, bytes]


class FastPath:
    """Answers the common case of the five hot routes, or returns None to leave a request to the framework."""

    def __init__(
        self, database: Database, grants: GrantCache, limiter: RateLimiter | None, max_body_bytes: int
    ) -> None:
        self.database = database
        self.grants = grants
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes

    async def answer(self, scope: Scope, receive: Receive) -> Answer | None:
        """The response to a hot route, or None when the request is not the common case."""
        method: str = scope["method"]  # type: ignore[typeddict-item]
        access = Access.READ if method == "GET" else _WRITES.get(method)
        if access is None or scope.get("root_path"):
            return None
        matched = _PATH.fullmatch(scope["path"])
        if matched is None:
            return None
        mount, id_text = matched[1], matched[2]
        if method != "GET" and (method == "POST") != (id_text is None):
            return None  # POST on one customer, PUT or DELETE on the collection: the framework's 405
        key = None if id_text is None else as_id(id_text)
        if id_text is not None and key is None:
            return None
        headers = _headers(scope)
        if headers is None or (access is not Access.READ and not self._plain_write(method, headers)):
            return None
        # The label Litestar's router gives these routes (metrics and the access log).
        template = f"{mount}/contacts" if key is None else f"{mount}/contacts/{{contact_id}}"
        try:
            grant = await self._grant(headers, access)
        except ServiceBusy as exc:  # no connection in time: the framework's path would wait for one again
            scope["path_template"] = template
            return _error(exc)
        if grant is None:
            return None
        organization_id = grant.organization.organization_id
        scope[ORGANIZATION_KEY] = organization_id  # type: ignore[literal-required]
        scope["path_template"] = template
        # Counted: from here on the request is answered here, whatever happens.
        # (The observer adds the budget's headers to whatever response follows.)
        if self.limiter is not None:
            budget = await self.limiter.hit(organization_id)
            scope[SCOPE_KEY] = budget  # type: ignore[literal-required]
            if not budget.allowed:
                return _error(TooManyRequests())
        try:
            if method == "GET":
                return await self._read(scope, mount, organization_id, key)
            return await self._write(method, grant, headers, receive, mount, key)
        except ZohoError as exc:  # a bad parameter or body, 404, 412; 503 with Retry-After when busy
            return _error(exc)
        except Exception as exc:
            if missing_table(exc):  # auto-migrate off, before `db upgrade`
                return _error(schema_behind(exc))
            log.exception(
                "unhandled error on %s %s",
                method,
                scope["path"],
                extra={"request_id": scope.get(REQUEST_ID_KEY)},
            )
            return _error(InternalError())

    async def _read(self, scope: Scope, mount: str, organization_id: str, key: int | None) -> Answer:
        if key is None:
            query = parse_list_query(parse_query_string(scope["query_string"]))
            body = await list_body(self.database, organization_id, query, MOUNTS[mount].list_key)
            return _json(200, body, [])
        body, etag = await contact_body(self.database, organization_id, key)
        return _json(200, body, [(b"etag", etag.encode())])

    async def _write(
        self,
        method: str,
        grant: Grant,
        headers: dict[bytes, str],
        receive: Receive,
        mount: str,
        key: int | None,
    ) -> Answer:
        wording = MOUNTS[mount]
        if_match = headers.get(_IF_MATCH)
        if method == "POST":
            work = create_work(grant, decode(await _body(receive), CREATE_BODY), wording)
        elif method == "PUT" and key is not None:
            work = update_work(grant, key, decode(await _body(receive), UPDATE_BODY), if_match, wording)
        else:
            assert key is not None  # DELETE on an id (checked in answer); a body, if any, is ignored as there
            work = delete_work(grant, key, if_match, wording)
        reply: Reply = await self.database.write(work)
        own = [(name.lower().encode(), value.encode()) for name, value in (reply.headers or {}).items()]
        return _json(reply.status, reply.body, own)

    def _plain_write(self, method: str, headers: dict[bytes, str]) -> bool:
        """A write the fast path takes: no Idempotency-Key; for a body, JSON (or no Content-Type, as the
        framework reads it) with a Content-Length within the limit (413, chunked and empty bodies: the
        framework)."""
        if _IDEMPOTENCY_KEY in headers:
            return False
        if method == "DELETE":
            return True
        media_type = headers.get(b"content-type", "").split(";", 1)[0].strip().lower()
        if media_type and media_type != "application/json" and not media_type.endswith("+json"):
            return False
        length = headers.get(b"content-length", "")
        # An empty body too goes to the framework: it may come with the JSON in the query (JSONString).
        return (
            b"transfer-encoding" not in headers
            and length.isdigit()
            and 0 < int(length) <= self.max_body_bytes
        )

    async def _grant(self, headers: dict[bytes, str], access: Access) -> Grant | None:
        """The caller's grant when its token holds `access` in the organization the request addresses, else
        None; ServiceBusy when the lookup found no database connection in time."""
        organization_id = headers.get(_ORGANIZATION, "").strip()
        if not organization_id:
            return None
        try:
            grant = await self.grants.for_header(headers.get(_AUTHORIZATION))
        except ServiceBusy:
            raise
        except Exception:  # NotAuthorized, or a failing lookup the framework's path meets and renders too
            return None
        if grant is None or not admits(grant, access):
            return None
        return grant if organization_id == grant.organization.organization_id else None


def _headers(scope: Scope) -> dict[bytes, str] | None:
    """The request headers the fast path reads, or None when one of them is repeated."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _READ:
            if name in found:
                return None
            found[name] = value.decode("latin-1")
    return found


async def _body(receive: Receive) -> bytes:
    """The whole request body (its length already checked against the limit)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientClosedRequest()
        chunks.append(message.get("body", b""))  # type: ignore[arg-type]
        if not message.get("more_body", False):
            return b"".join(chunks)


def _error(error: ZohoError) -> Answer:
    """The envelope of a refusal, as the framework's exception handler renders it."""
    own = [(name.lower().encode(), value.encode()) for name, value in error.headers().items()]
    return _json(int(error.status), message_body(error.code, error.message), own)


def _json(status: int, body: bytes, first: Headers) -> Answer:
    return status, [*first, _CONTENT_TYPE, (b"content-length", str(len(body)).encode())], body
