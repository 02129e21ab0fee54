"""Who is calling: the Authorization token, its organization and its scopes. One async dependency,
`principal`, answers for every customers route; token lookups are cached for `token_cache_seconds`."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request

from zcontacts.api.observe import ORGANIZATION_KEY
from zcontacts.api.ratelimit import enforce as enforce_rate_limit
from zcontacts.domain.scopes import Access, grants
from zcontacts.domain.tokens import Grant, token_hash
from zcontacts.domain.zoho_time import now_ms
from zcontacts.errors import NotAuthorized, OrganizationMissing, OrganizationNotAssociated
from zcontacts.storage.database import Database
from zcontacts.storage.tokens import TokensRepo

ORGANIZATION_HEADER = "x-com-zoho-expense-organizationid"
# What Zoho Books clients send instead (read after the Expense header, before the query parameter).
BOOKS_ORGANIZATION_HEADER = "x-com-zoho-books-organizationid"
_SCHEMES = ("zoho-oauthtoken ", "bearer ")
_MAX_TOKEN_LENGTH = 512
_CACHE_LIMIT = 10_000


class GrantCache:
    """Token hash → grant, each entry trusted for `ttl` seconds (so a revocation is seen within `ttl`). The
    hot paths also look up the raw Authorization header, which skips parsing and hashing the token; such an
    entry keeps the time of the lookup it came from, so it is never trusted longer."""

    def __init__(self, database: Database, ttl: float) -> None:
        self.database = database
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Grant | None]] = {}
        self._headers: dict[str, tuple[float, Grant | None]] = {}

    async def get(self, hashed: str) -> Grant | None:
        """The grant for a token hash (None for an unknown token)."""
        return (await self._lookup(hashed))[1]

    async def for_header(self, authorization: str | None) -> Grant | None:
        """The grant of an Authorization header's token (None for an unknown token); NotAuthorized when the
        header is missing or malformed."""
        if authorization is not None:
            entry = self._headers.get(authorization)
            if entry is not None and time.monotonic() - entry[0] < self.ttl:
                return entry[1]
        entry = await self._lookup(token_hash(bearer_token(authorization)))
        if len(self._headers) >= _CACHE_LIMIT:
            self._headers.clear()
        self._headers[authorization or ""] = entry
        return entry[1]

    async def _lookup(self, hashed: str) -> tuple[float, Grant | None]:
        now = time.monotonic()
        entry = self._entries.get(hashed)
        if entry is not None and now - entry[0] < self.ttl:
            return entry
        grant = await self.database.read(lambda connection: TokensRepo(connection).find(hashed))
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries.clear()
        entry = self._entries[hashed] = (now, grant)
        return entry

    def forget(self) -> None:
        """Drop every cached lookup."""
        self._entries.clear()
        self._headers.clear()


def admits(grant: Grant, access: Access) -> bool:
    """True when the grant is usable now (neither revoked nor expired) and its scopes allow `access`."""
    return grant.usable_at(now_ms()) and grants(grant.scopes, access)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Zoho-oauthtoken <token>` header; 401 when absent or malformed."""
    if not authorization:
        raise NotAuthorized()
    lowered = authorization[:20].lower()
    for scheme in _SCHEMES:
        if lowered.startswith(scheme):
            token = authorization[len(scheme) :].strip()
            if 0 < len(token) <= _MAX_TOKEN_LENGTH and token.isprintable() and " " not in token:
                return token
    raise NotAuthorized()


def organization_id_of(request: Request[Any, Any, Any]) -> str:
    """The organization a request addresses: the Zoho header (Expense's, else Books'), else the organization_id
    query parameter."""
    headers = request.headers
    organization_id = (
        headers.get(ORGANIZATION_HEADER)
        or headers.get(BOOKS_ORGANIZATION_HEADER)
        or request.query_params.get("organization_id")
    )
    if not organization_id or not organization_id.strip():
        raise OrganizationMissing()
    return organization_id.strip()


async def provide_principal(request: Request[Any, Any, Any]) -> Grant:
    """The caller's grant, checked against the route's required access and the addressed organization."""
    cache: GrantCache = request.app.state.grants
    grant = await cache.for_header(request.headers.get("authorization"))
    return await admit(request, grant, request.route_handler.opt["access"])


async def authorize(
    request: Request[Any, Any, Any], token: str, access: Access, organization_id: str | None = None
) -> Grant:
    """The grant of `token` if it is usable, holds `access` and belongs to `organization_id` (by default the
    one the request addresses, read only once the token passed); the one check behind the API and the web
    console alike. Counts the request against the organization's rate limit."""
    cache: GrantCache = request.app.state.grants
    return await admit(request, await cache.get(token_hash(token)), access, organization_id)


async def admit(
    request: Request[Any, Any, Any], grant: Grant | None, access: Access, organization_id: str | None = None
) -> Grant:
    """`grant` if it is usable, holds `access` and belongs to the organization (see authorize)."""
    if grant is None or not admits(grant, access):
        raise NotAuthorized()
    if organization_id is None:
        organization_id = organization_id_of(request)
    if organization_id != grant.organization.organization_id:
        raise OrganizationNotAssociated(organization_id[:40])
    request.scope[ORGANIZATION_KEY] = organization_id  # type: ignore[literal-required]
    # Counted only now, with the token verified: bad tokens cannot spend an organization's budget.
    await enforce_rate_limit(request, organization_id)
    return grant
