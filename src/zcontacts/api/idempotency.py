"""`Idempotency-Key` on POST and PUT: the first successful reply to a key is stored in the same transaction as
the change it made and replayed, byte for byte, to every retry with that key for 24 hours; the same key with a
different request gets a 409. Requests without the header pay one header lookup."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from litestar import Request, Response

from zcontacts.api.bodies import read_form
from zcontacts.api.context import database_of, path_of
from zcontacts.api.responses import json_response
from zcontacts.domain.tokens import Grant
from zcontacts.domain.zoho_time import now_ms
from zcontacts.errors import IdempotencyKeyReused, InvalidValue, ServiceBusy
from zcontacts.storage.idempotency import IdempotencyRepo

if TYPE_CHECKING:
    from sqlalchemy import Connection  # the transaction `work` runs in (storage owns SQL)

IDEMPOTENCY_HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
REPLAY_WINDOW_MS = 24 * 3600 * 1000
MAX_KEY_LENGTH = 255
# One keyed write in this many also purges the organization's expired keys (an expired copy of the key being
# used is always removed first, so a purge is housekeeping, never needed for correctness).
PURGE_EVERY = 32
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class Reply(NamedTuple):
    """A write's answer: status, JSON body and extra headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] | None = None

    def response(self) -> Response[bytes]:
        """The HTTP response."""
        return json_response(self.body, status=self.status, headers=self.headers)


async def write_once(
    request: Request[Any, Any, Any], principal: Grant, work: Callable[[Connection], Reply]
) -> Response[bytes]:
    """Run `work` in one write transaction and answer its reply; with an Idempotency-Key, at most once per
    key (a retry gets the stored reply, a different request with the key a 409)."""
    database = database_of(request)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        reply: Reply = await database.write(work)
        return reply.response()
    key = valid_key(key)
    request_hash = await _request_hash(request)
    operation = f"{request.method} {path_of(request)}"
    organization_id = principal.organization.organization_id

    def keyed(connection: Connection) -> Reply:
        repo = IdempotencyRepo(connection)
        now = now_ms()
        since = now - REPLAY_WINDOW_MS
        stored = repo.find(organization_id, key, since)
        if stored is None:
            repo.purge_key(organization_id, key, since)
            if random.randrange(PURGE_EVERY) == 0:  # housekeeping, not security
                repo.purge(organization_id, since)
            if repo.claim(organization_id, key, operation, request_hash, now):
                fresh = work(connection)
                repo.complete(organization_id, key, fresh.status, fresh.body, dict(fresh.headers or {}))
                return fresh
            # A concurrent request with the key committed first: answer as its retry would be answered.
            stored = repo.find(organization_id, key, since)
            if stored is None:
                raise ServiceBusy()
        if stored.request_hash != request_hash:
            raise IdempotencyKeyReused()
        return Reply(stored.status, stored.response, {**stored.headers, REPLAYED_HEADER: "true"})

    replied: Reply = await database.write(keyed)
    return replied.response()


def valid_key(key: str) -> str:
    """An Idempotency-Key as sent: 1 to 255 visible ASCII characters (a UUID is typical)."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise InvalidValue(
            "Invalid value passed for Idempotency-Key: send 1 to 255 visible ASCII characters (e.g. a UUID)."
        )
    return key


async def _request_hash(request: Request[Any, Any, Any]) -> str:
    """What makes two requests "the same": method, path, query string and body."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in _FORMS:
        # A multipart body is streamed into the form, not kept: its JSONString is the request's content.
        body = str((await read_form(request)).get("JSONString", "")).encode("utf-8", "surrogatepass")
    else:
        body = await request.body()
    digest = hashlib.sha256()
    for part in (request.method.encode(), path_of(request).encode(), request.url.query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()
