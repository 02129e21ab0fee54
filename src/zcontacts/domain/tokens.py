"""Access tokens: made with Zoho's shape, kept only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

import msgspec

from zcontacts.domain.organizations import Organization


class Grant(msgspec.Struct, frozen=True):
    """What a valid token lets its bearer do."""

    token_id: str
    organization: Organization
    scopes: frozenset[str]  # case-folded
    expires_at_ms: int | None
    revoked: bool
    client_id: str | None = None

    @property
    def actor_name(self) -> str:
        """Who acts with this token, as history shows it."""
        return f"OAuth client {self.client_id}" if self.client_id else f"token {self.token_id}"

    def usable_at(self, at_ms: int) -> bool:
        """True when the token is neither revoked nor expired at `at_ms`."""
        return not self.revoked and (self.expires_at_ms is None or at_ms < self.expires_at_ms)


def new_token() -> str:
    """A fresh bearer token that looks like Zoho's (`1000.<32 hex>.<32 hex>`), 256 bits of randomness."""
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


def token_hash(token: str) -> str:
    """The stored form of a token. A fast hash is right here: tokens are random, not guessable passwords."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
