"""The OAuth repository: clients, grant codes and refresh tokens (hashes only)."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from zcontacts.domain.oauth import OAuthClient
from zcontacts.storage.tables import oauth_clients, oauth_grant_codes, oauth_refresh_tokens, tokens
from zcontacts.storage.tokens import TokensRepo


class OAuthRepo:
    """OAuth rows of one connection's transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def create_client(
        self,
        *,
        client_id: str,
        organization_id: str,
        secret_hash: str,
        name: str,
        scopes: list[str],
        at_ms: int,
    ) -> None:
        """Store a client."""
        self.connection.execute(
            insert(oauth_clients).values(
                client_id=client_id,
                organization_id=int(organization_id),
                secret_hash=secret_hash,
                name=name,
                scopes=" ".join(scopes),
                created_at_ms=at_ms,
            )
        )

    def client(self, client_id: str) -> OAuthClient | None:
        """One client, or None."""
        row = self.connection.execute(
            select(
                oauth_clients.c.client_id,
                oauth_clients.c.organization_id,
                oauth_clients.c.secret_hash,
                oauth_clients.c.name,
                oauth_clients.c.scopes,
            ).where(oauth_clients.c.client_id == client_id)
        ).first()
        if row is None:
            return None
        return OAuthClient(
            client_id=row[0],
            organization_id=str(row[1]),
            secret_hash=row[2],
            name=row[3],
            scopes=str(row[4]).split(),
        )

    def create_code(
        self, *, code_hash: str, client_id: str, scopes: list[str], at_ms: int, expires_at_ms: int
    ) -> None:
        """Store a one-time grant code."""
        self.connection.execute(
            insert(oauth_grant_codes).values(
                code_hash=code_hash,
                client_id=client_id,
                scopes=" ".join(scopes),
                created_at_ms=at_ms,
                expires_at_ms=expires_at_ms,
            )
        )

    def take_code(self, *, code_hash: str, client_id: str, at_ms: int) -> list[str] | None:
        """Use a grant code once: its scopes, or None when it is unknown, used, expired or another client's."""
        result = self.connection.execute(
            update(oauth_grant_codes)
            .where(
                oauth_grant_codes.c.code_hash == code_hash,
                oauth_grant_codes.c.client_id == client_id,
                oauth_grant_codes.c.used_at_ms.is_(None),
                oauth_grant_codes.c.expires_at_ms > at_ms,
            )
            .values(used_at_ms=at_ms)
            .returning(oauth_grant_codes.c.scopes)
        ).first()
        return None if result is None else str(result[0]).split()

    def create_refresh_token(
        self, *, token_hash: str, client_id: str, organization_id: str, scopes: list[str], at_ms: int
    ) -> None:
        """Store a refresh token."""
        self.connection.execute(
            insert(oauth_refresh_tokens).values(
                token_hash=token_hash,
                client_id=client_id,
                organization_id=int(organization_id),
                scopes=" ".join(scopes),
                created_at_ms=at_ms,
            )
        )

    def refresh_token_scopes(self, *, token_hash: str, client_id: str) -> list[str] | None:
        """The scopes of a live refresh token of this client, or None."""
        row = self.connection.execute(
            select(oauth_refresh_tokens.c.scopes).where(
                oauth_refresh_tokens.c.token_hash == token_hash,
                oauth_refresh_tokens.c.client_id == client_id,
                oauth_refresh_tokens.c.revoked_at_ms.is_(None),
            )
        ).first()
        return None if row is None else str(row[0]).split()

    def revoke(self, token_hash: str, at_ms: int) -> bool:
        """Revoke a refresh token (with every access token made from it) or an access token."""
        refreshed = self.connection.execute(
            update(oauth_refresh_tokens)
            .where(
                oauth_refresh_tokens.c.token_hash == token_hash,
                oauth_refresh_tokens.c.revoked_at_ms.is_(None),
            )
            .values(revoked_at_ms=at_ms)
        ).rowcount
        access = self.connection.execute(
            update(tokens)
            .where(
                (tokens.c.refresh_token_hash == token_hash) | (tokens.c.token_hash == token_hash),
                tokens.c.revoked_at_ms.is_(None),
            )
            .values(revoked_at_ms=at_ms)
        ).rowcount
        return bool(refreshed or access)

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
        TokensRepo(self.connection).create(
            organization_id=client.organization_id,
            token_hash=token_hash,
            scopes=scopes,
            at_ms=at_ms,
            expires_at_ms=expires_at_ms,
            client_id=client.client_id,
            refresh_token_hash=refresh_token_hash,
        )
