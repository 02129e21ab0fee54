"""The asyncio client: `AsyncClient(base_url, organization_id=…, token=…)`, the same methods as Client, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from zcontacts.client import _operations as oauth
from zcontacts.client._base import ClientBase
from zcontacts.client._core import DEFAULT_BASE_URL, Body, Call, Flavour, RetryPolicy, judge
from zcontacts.client.models import (
    AddressDetail,
    CommentPage,
    Contact,
    ContactPage,
    ContactPerson,
    ContactPersonPage,
    ContactSummary,
    HistoryEntry,
    TokenGrant,
)

T = TypeVar("T")


class AsyncClient(ClientBase):
    """An asyncio client of the Zoho Customers API (Zoho itself or zcontacts). Refusals raise ZohoAPIError subclasses
    carrying Zoho's code; 429 and (for idempotent calls) 5xx are retried with backoff; with client_id,
    client_secret and refresh_token it fetches access tokens itself and refreshes them on 401 code 57."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        organization_id: str,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        accounts_url: str | None = None,
        flavour: Flavour = "expense",
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        seed: int | None = None,
    ) -> None:
        """`token`, or `client_id`, `client_secret` and `refresh_token` (OAuth: tokens are fetched and refreshed
        as needed). `transport` and `sleep` are for tests; `seed` fixes the backoff jitter."""
        super().__init__(
            base_url,
            organization_id=organization_id,
            token=token,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            accounts_url=accounts_url,
            flavour=flavour,
            retry=retry,
            seed=seed,
        )
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._refreshing = asyncio.Lock()
        self._sleep = sleep

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- the engine ----------------------------------------------------------------------------------------

    async def _run(self, call: Call[T]) -> T:
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            seen = self.access_token  # read first: another caller may refresh it meanwhile
            if not call.accounts and self.needs_token():
                await self._refresh_unless_done(seen)
            used = self.access_token
            try:
                response = await self._http.request(**self.request_args(call))
            except httpx.TransportError as exc:
                lost_before_sending = isinstance(exc, httpx.ConnectError)
                if attempt < self.retry.max_attempts and (lost_before_sending or call.may_retry_failure()):
                    await self._sleep(self.retry.delay(attempt, None, self.rng))
                    continue
                raise
            verdict = judge(
                call, response.status_code, response.content, response.headers.get("Retry-After"),
                attempt=attempt, policy=self.retry, rng=self.rng,
                can_refresh=self.can_refresh and not refreshed and not call.accounts,
            )  # fmt: skip
            if verdict.action == "done":
                return verdict.value  # type: ignore[return-value]
            if verdict.action == "refresh":
                await self._refresh_unless_done(used)
                refreshed = True
                attempt -= 1  # the refused call did nothing: it does not count as an attempt
                continue
            if verdict.action == "retry":
                await self._sleep(verdict.delay)
                continue
            assert verdict.error is not None
            raise verdict.error

    async def _refresh_unless_done(self, used: str | None) -> None:
        """Refresh the access token that was `used` (expired or refused), unless a concurrent call already has:
        calls failing together share one refresh (Zoho limits how many access tokens a client may fetch)."""
        async with self._refreshing:
            if self.access_token == used:
                await self.refresh_access_token()

    # ---- OAuth ---------------------------------------------------------------------------------------------

    async def refresh_access_token(self) -> TokenGrant:
        """Trade the refresh token for a new access token, used from now on."""
        if self.credentials is None:
            raise ValueError("no OAuth credentials: give client_id, client_secret and refresh_token")
        grant = await self._run(oauth.refresh(self.credentials))
        self.take_token(grant)
        return grant

    async def exchange_code(
        self, client_id: str, client_secret: str, code: str, redirect_uri: str = ""
    ) -> TokenGrant:
        """Trade a one-time grant code for an access token and a refresh token."""
        return await self._run(oauth.exchange_code(client_id, client_secret, code, redirect_uri))

    async def revoke_token(self, token: str) -> None:
        """Revoke a refresh token (and the access tokens made from it) or an access token."""
        await self._run(oauth.revoke(token))

    # ---- customers -----------------------------------------------------------------------------------------

    async def create_contact(self, body: Body, *, idempotency_key: str | None = None) -> Contact:
        """Create a customer (a ContactCreate or a dict); POST is retried on 5xx only with an idempotency key."""
        return await self._run(self.routes.create_contact(body, idempotency_key))

    async def list_contacts(self, *, page: int = 1, per_page: int = 200, **filters: Any) -> ContactPage:
        """One page of customers; filters are the API's query parameters (search_text, filter_by, …)."""
        return await self._run(self.routes.list_contacts(page, per_page, filters))

    async def iter_contacts(self, *, per_page: int = 200, **filters: Any) -> AsyncIterator[ContactSummary]:
        """Every customer matching the filters, page after page while page_context.has_more_page."""
        page = 1
        while True:
            result = await self.list_contacts(page=page, per_page=per_page, **filters)
            for item in result.contacts:
                yield item
            if not result.page_context.has_more_page:
                return
            page += 1

    async def get_contact(self, contact_id: str) -> Contact:
        """One customer."""
        return await self._run(self.routes.get_contact(contact_id))

    async def update_contact(self, contact_id: str, body: Body) -> Contact:
        """Update a customer: present fields replace, addresses and persons merge."""
        return await self._run(self.routes.update_contact(contact_id, body))

    async def delete_contact(self, contact_id: str) -> None:
        """Delete a customer."""
        await self._run(self.routes.delete_contact(contact_id))

    async def mark_active(self, contact_id: str) -> None:
        """Mark a customer active."""
        await self._run(self.routes.set_status(contact_id, "active"))

    async def mark_inactive(self, contact_id: str) -> None:
        """Mark a customer inactive."""
        await self._run(self.routes.set_status(contact_id, "inactive"))

    async def list_comments(self, contact_id: str, *, page: int = 1, per_page: int = 200) -> CommentPage:
        """One page of a customer's history, newest first."""
        return await self._run(self.routes.list_comments(contact_id, page, per_page))

    async def iter_comments(self, contact_id: str, *, per_page: int = 200) -> AsyncIterator[HistoryEntry]:
        """A customer's whole history, newest first."""
        page = 1
        while True:
            result = await self.list_comments(contact_id, page=page, per_page=per_page)
            for item in result.contact_comments:
                yield item
            if not result.page_context.has_more_page:
                return
            page += 1

    # ---- contact persons -----------------------------------------------------------------------------------

    async def list_contact_persons(
        self, contact_id: str, *, page: int = 1, per_page: int = 200
    ) -> ContactPersonPage:
        """One page of a customer's persons."""
        return await self._run(self.routes.list_contact_persons(contact_id, page, per_page))

    async def get_contact_person(self, contact_id: str, contact_person_id: str) -> ContactPerson:
        """One person of a customer."""
        return await self._run(self.routes.get_contact_person(contact_id, contact_person_id))

    async def create_contact_person(self, body: Body, *, idempotency_key: str | None = None) -> ContactPerson:
        """Add a person to the customer named by the body's contact_id."""
        return await self._run(self.routes.create_contact_person(body, idempotency_key))

    async def update_contact_person(self, contact_person_id: str, body: Body) -> ContactPerson:
        """Update a person field by field."""
        return await self._run(self.routes.update_contact_person(contact_person_id, body))

    async def delete_contact_person(self, contact_person_id: str) -> None:
        """Remove a person."""
        await self._run(self.routes.delete_contact_person(contact_person_id))

    async def mark_primary_contact_person(self, contact_person_id: str) -> None:
        """Make a person its customer's primary person."""
        await self._run(self.routes.mark_primary_contact_person(contact_person_id))

    # ---- addresses -----------------------------------------------------------------------------------------

    async def list_addresses(self, contact_id: str) -> list[AddressDetail]:
        """Billing, shipping, then the additional addresses."""
        return await self._run(self.routes.list_addresses(contact_id))

    async def create_address(
        self, contact_id: str, body: Body, *, idempotency_key: str | None = None
    ) -> AddressDetail:
        """Add an additional address."""
        return await self._run(self.routes.create_address(contact_id, body, idempotency_key))

    async def update_address(self, contact_id: str, address_id: str, body: Body) -> AddressDetail:
        """Update an address (billing and shipping too) field by field."""
        return await self._run(self.routes.update_address(contact_id, address_id, body))

    async def delete_address(self, contact_id: str, address_id: str) -> None:
        """Delete an additional address."""
        await self._run(self.routes.delete_address(contact_id, address_id))
