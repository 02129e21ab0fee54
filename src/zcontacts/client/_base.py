"""Configuration and token state shared by Client and AsyncClient: where calls go, which headers they carry,
and when the access token must be refreshed."""

from __future__ import annotations

import random
import time
from typing import Any

from zcontacts.client._core import (
    DEFAULT_BASE_URL,
    ORGANIZATION_HEADER,
    Call,
    Flavour,
    OAuthCredentials,
    RetryPolicy,
    accounts_url_for,
)
from zcontacts.client._operations import Routes
from zcontacts.client.models import TokenGrant

# Refresh this long before the server says a token expires, so no call is sent with a dying token.
EXPIRY_MARGIN = 60.0


class ClientBase:
    """What both clients know: base URL, organization, flavour, credentials and the retry policy."""

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
        seed: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.organization_id = str(organization_id)
        self.flavour: Flavour = flavour
        self.routes = Routes(flavour)
        self.retry = retry or RetryPolicy()
        self.rng = random.Random(seed)
        self.accounts_url = (accounts_url or accounts_url_for(self.base_url)).rstrip("/")
        self.credentials: OAuthCredentials | None = None
        if client_id or client_secret or refresh_token:
            if not (client_id and client_secret and refresh_token):
                raise ValueError("OAuth needs client_id, client_secret and refresh_token together")
            self.credentials = OAuthCredentials(client_id, client_secret, refresh_token, self.accounts_url)
        if token is None and self.credentials is None:
            raise ValueError("give a token, or client_id, client_secret and refresh_token")
        self.access_token = token
        self._expires_at: float | None = None

    @property
    def can_refresh(self) -> bool:
        """Whether an expired token can be replaced (OAuth credentials were given)."""
        return self.credentials is not None

    def needs_token(self) -> bool:
        """True before the first token, or when the current one is about to expire."""
        if self.credentials is None:
            return False
        if self.access_token is None:
            return True
        return self._expires_at is not None and time.monotonic() >= self._expires_at

    def take_token(self, grant: TokenGrant) -> None:
        """Use a freshly granted access token from now on."""
        self.access_token = grant.access_token
        self._expires_at = time.monotonic() + max(0.0, grant.expires_in - EXPIRY_MARGIN)

    def request_args(self, call: Call[Any]) -> dict[str, Any]:
        """Method, URL, headers, parameters and body of a call, for httpx."""
        headers: dict[str, str] = {"Accept": "application/json"}
        params = dict(call.params)
        if call.accounts:
            url = f"{self.accounts_url}{call.path}"
        else:
            url = f"{self.base_url}{self.routes.prefix}{call.path}"
            headers[ORGANIZATION_HEADER] = self.organization_id
            if self.flavour == "books":  # Zoho Books reads the organization from the query string
                params["organization_id"] = self.organization_id
            if self.access_token:
                headers["Authorization"] = f"Zoho-oauthtoken {self.access_token}"
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.idempotency_key:
            headers["Idempotency-Key"] = call.idempotency_key
        return {"method": call.method, "url": url, "headers": headers, "params": params, "content": call.body}
