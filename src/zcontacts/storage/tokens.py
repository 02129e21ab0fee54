"""The tokens repository: rows hold hashes only, never the token."""

from __future__ import annotations

import hmac

from sqlalchemy import Connection, insert, select, update

from zcontacts.domain.organizations import Organization
from zcontacts.domain.tokens import Grant
from zcontacts.storage import ids
from zcontacts.storage.organizations import ORGANIZATION_COLUMNS, organization_from_row
from zcontacts.storage.tables import organizations, tokens


class TokensRepo:
    """Token rows of one connection's transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def create(
        self,
        *,
        organization_id: str,
        token_hash: str,
        scopes: list[str],
        at_ms: int,
        expires_at_ms: int | None,
        client_id: str | None = None,
        refresh_token_hash: str | None = None,
    ) -> str:
        """Store a token's hash with its scopes (and the OAuth client and refresh token it came from, if any);
        returns the token's id."""
        (token_id,) = ids.allocate(self.connection, 1)
        self.connection.execute(
            insert(tokens).values(
                token_id=token_id,
                token_hash=token_hash,
                organization_id=int(organization_id),
                scopes=" ".join(scopes),
                created_at_ms=at_ms,
                expires_at_ms=expires_at_ms,
                client_id=client_id,
                refresh_token_hash=refresh_token_hash,
            )
        )
        return str(token_id)

    def find(self, token_hash: str) -> Grant | None:
        """The grant behind a token hash (revoked and expired ones included), or None. The index finds the row;
        the hash is then compared in constant time, so no answer depends on how much of it matched."""
        row = self.connection.execute(
            select(
                tokens.c.token_hash,
                tokens.c.token_id,
                tokens.c.scopes,
                tokens.c.expires_at_ms,
                tokens.c.revoked_at_ms,
                tokens.c.client_id,
                *ORGANIZATION_COLUMNS,
            )
            .join(organizations, organizations.c.organization_id == tokens.c.organization_id)
            .where(tokens.c.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        stored_hash, token_id, scopes, expires_at_ms, revoked_at_ms, client_id, *organization = tuple(row)
        if not hmac.compare_digest(str(stored_hash).encode(), token_hash.encode()):
            return None
        org: Organization = organization_from_row(tuple(organization))
        return Grant(
            token_id=str(token_id),
            organization=org,
            scopes=frozenset(scope.casefold() for scope in str(scopes).split()),
            expires_at_ms=expires_at_ms,
            revoked=revoked_at_ms is not None,
            client_id=client_id,
        )

    def revoke(self, token_hash: str, at_ms: int) -> bool:
        """Revoke a token; False when no live token has this hash."""
        result = self.connection.execute(
            update(tokens)
            .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at_ms.is_(None))
            .values(revoked_at_ms=at_ms)
        )
        return result.rowcount > 0
