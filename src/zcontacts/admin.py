"""Operator actions shared by the CLI and the tests: OAuth self clients and their grant codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from zcontacts.domain.oauth import GRANT_CODE_SECONDS, new_client_id, new_client_secret, new_grant_code
from zcontacts.domain.tokens import token_hash
from zcontacts.domain.zoho_time import now_ms
from zcontacts.storage.database import Database
from zcontacts.storage.oauth import OAuthRepo
from zcontacts.storage.organizations import OrganizationsRepo

if TYPE_CHECKING:
    from sqlalchemy import Connection


class SelfClient(msgspec.Struct):
    """What `zcontacts clients create` prints: the secret and the code are shown once, never again."""

    client_id: str
    client_secret: str
    grant_code: str
    grant_code_expires_in: int
    organization_id: str
    scopes: list[str]


def create_client(
    database: Database,
    organization_id: str,
    scopes: list[str],
    name: str,
    code_seconds: int = GRANT_CODE_SECONDS,
) -> SelfClient:
    """A new OAuth client for an organization, with a first one-time grant code."""
    client_id, secret, code = new_client_id(), new_client_secret(), new_grant_code()
    at = now_ms()

    def work(connection: Connection) -> None:
        if OrganizationsRepo(connection).get(organization_id) is None:
            raise ValueError(f"no organization {organization_id}")
        repo = OAuthRepo(connection)
        repo.create_client(
            client_id=client_id,
            organization_id=organization_id,
            secret_hash=token_hash(secret),
            name=name,
            scopes=scopes,
            at_ms=at,
        )
        repo.create_code(
            code_hash=token_hash(code),
            client_id=client_id,
            scopes=scopes,
            at_ms=at,
            expires_at_ms=at + code_seconds * 1000,
        )

    database.run(work, write=True)
    return SelfClient(client_id, secret, code, code_seconds, organization_id, scopes)


def mint_code(
    database: Database,
    client_id: str,
    scopes: list[str] | None = None,
    code_seconds: int = GRANT_CODE_SECONDS,
) -> str:
    """A fresh one-time grant code for an existing client (its own scopes unless narrower ones are given)."""
    code = new_grant_code()
    at = now_ms()

    def work(connection: Connection) -> None:
        repo = OAuthRepo(connection)
        client = repo.client(client_id)
        if client is None:
            raise ValueError(f"no OAuth client {client_id}")
        wanted = scopes or client.scopes
        if not set(wanted) <= set(client.scopes):
            raise ValueError(f"the client holds only these scopes: {' '.join(client.scopes)}")
        repo.create_code(
            code_hash=token_hash(code),
            client_id=client_id,
            scopes=wanted,
            at_ms=at,
            expires_at_ms=at + code_seconds * 1000,
        )

    database.run(work, write=True)
    return code
