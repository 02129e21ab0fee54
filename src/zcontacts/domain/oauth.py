"""OAuth like Zoho Accounts' "self client": a client id and secret per organization, one-time grant codes,
refresh tokens that stay valid, and access tokens that expire. Every secret is kept only as a hash."""

from __future__ import annotations

import hmac
import secrets
import string
from typing import Any, Protocol

import msgspec

from zcontacts.domain.tokens import new_token, token_hash

ACCESS_TOKEN_SECONDS = 3600
GRANT_CODE_SECONDS = 600
_CLIENT_ALPHABET = string.ascii_uppercase + string.digits


class OAuthError(Exception):
    """A refusal of the token endpoint, rendered as `{"error": <error>}` like Zoho Accounts does."""

    def __init__(self, error: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


def new_client_id() -> str:
    """A client id shaped like Zoho's (`1000.` and 30 upper-case letters and digits)."""
    return "1000." + "".join(secrets.choice(_CLIENT_ALPHABET) for _ in range(30))


def new_client_secret() -> str:
    """A client secret shaped like Zoho's (42 hex digits)."""
    return secrets.token_hex(21)


def new_grant_code() -> str:
    """A one-time grant code shaped like Zoho's."""
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


def secret_matches(given: str, stored_hash: str) -> bool:
    """Compare a presented secret with a stored hash in constant time."""
    return hmac.compare_digest(token_hash(given), stored_hash)


class OAuthClient(msgspec.Struct, frozen=True):
    """A stored client: its secret only as a hash."""

    client_id: str
    organization_id: str
    secret_hash: str
    name: str
    scopes: list[str]


class OAuthStore(Protocol):
    """What the token endpoint needs from storage; storage.oauth.OAuthRepo implements it."""

    def client(self, client_id: str) -> OAuthClient | None:
        """One client, or None."""
        ...

    def take_code(self, *, code_hash: str, client_id: str, at_ms: int) -> list[str] | None:
        """Use a grant code once; its scopes, or None."""
        ...

    def create_refresh_token(
        self, *, token_hash: str, client_id: str, organization_id: str, scopes: list[str], at_ms: int
    ) -> None:
        """Store a refresh token."""
        ...

    def refresh_token_scopes(self, *, token_hash: str, client_id: str) -> list[str] | None:
        """The scopes of a live refresh token of this client, or None."""
        ...

    def create_access_token(
        self,
        *,
        client: OAuthClient,
        token_hash: str,
        scopes: list[str],
        at_ms: int,
        expires_at_ms: int,
        refresh_token_hash: str,
    ) -> None:
        """Store an access token made from a refresh token."""
        ...


def grant_tokens(store: OAuthStore, params: dict[str, str], at_ms: int, lifetime: int) -> dict[str, Any]:
    """The token endpoint's work: check the client, then use a grant code (returning access and refresh
    tokens) or a refresh token (returning a new access token; the refresh token stays valid)."""
    grant_type = params.get("grant_type", "")
    if grant_type not in ("authorization_code", "refresh_token"):
        raise OAuthError("unsupported_grant_type" if grant_type else "invalid_request")
    client = store.client(params.get("client_id", ""))
    if client is None or not secret_matches(params.get("client_secret", ""), client.secret_hash):
        raise OAuthError("invalid_client", status=401)
    if grant_type == "authorization_code":
        scopes = store.take_code(
            code_hash=token_hash(params.get("code", "")), client_id=client.client_id, at_ms=at_ms
        )
        if scopes is None:
            raise OAuthError("invalid_code")
        refresh_token = new_token()
        store.create_refresh_token(
            token_hash=token_hash(refresh_token),
            client_id=client.client_id,
            organization_id=client.organization_id,
            scopes=scopes,
            at_ms=at_ms,
        )
        access_token = _issue(store, client, scopes, refresh_token, at_ms, lifetime)
        return {"access_token": access_token, "refresh_token": refresh_token}
    refresh_token = params.get("refresh_token", "")
    scopes = store.refresh_token_scopes(token_hash=token_hash(refresh_token), client_id=client.client_id)
    if scopes is None:
        raise OAuthError("invalid_code")
    return {"access_token": _issue(store, client, scopes, refresh_token, at_ms, lifetime)}


def _issue(
    store: OAuthStore, client: OAuthClient, scopes: list[str], refresh_token: str, at_ms: int, lifetime: int
) -> str:
    access_token = new_token()
    store.create_access_token(
        client=client,
        token_hash=token_hash(access_token),
        scopes=scopes,
        at_ms=at_ms,
        expires_at_ms=at_ms + lifetime * 1000,
        refresh_token_hash=token_hash(refresh_token),
    )
    return access_token
