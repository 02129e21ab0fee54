"""The idempotency-keys repository: the first reply to a keyed POST/PUT, stored in the transaction of the change
it replays (so a crash can never keep the change without its key, or the key without its change)."""

from __future__ import annotations

import msgspec
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from zcontacts.storage.tables import idempotency_keys


class StoredReply(msgspec.Struct, frozen=True):
    """What a key's first request was (its hash) and what it was answered."""

    request_hash: str
    status: int
    response: bytes
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class IdempotencyRepo:
    """Idempotency-key rows of one connection's transaction, always within one organization."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def find(self, organization_id: str, key: str, since_ms: int) -> StoredReply | None:
        """The reply stored for `key` at or after `since_ms` (older ones no longer count), or None."""
        row = self.connection.execute(
            select(
                idempotency_keys.c.request_hash,
                idempotency_keys.c.status,
                idempotency_keys.c.response,
                idempotency_keys.c.response_headers,
            ).where(
                idempotency_keys.c.organization_id == int(organization_id),
                idempotency_keys.c.idempotency_key == key,
                idempotency_keys.c.created_at_ms >= since_ms,
            )
        ).first()
        if row is None:
            return None
        headers = msgspec.json.decode(row[3], type=dict[str, str])
        return StoredReply(str(row[0]), int(row[1]), bytes(row[2]), headers)

    def claim(self, organization_id: str, key: str, operation: str, request_hash: str, at_ms: int) -> bool:
        """Take `key` for this transaction (status 0 until `complete`); False when another transaction holds
        it. On PostgreSQL the insert waits for a concurrent holder to commit or roll back, so exactly one of
        two racing requests makes the change. Callers purge expired rows first (`purge`)."""
        statement = insert(idempotency_keys).values(
            organization_id=int(organization_id),
            idempotency_key=key,
            operation=operation[:300],
            request_hash=request_hash,
            status=0,
            response=b"",
            created_at_ms=at_ms,
        )
        if self.connection.dialect.name == "sqlite":
            # The write transaction holds SQLite's one write lock: nobody can have inserted since `find`.
            self.connection.execute(statement)
            return True
        try:
            with self.connection.begin_nested():
                self.connection.execute(statement)
        except IntegrityError:
            return False
        return True

    def complete(
        self, organization_id: str, key: str, status: int, response: bytes, headers: dict[str, str]
    ) -> None:
        """Store the reply (status, body, headers) of the claimed key."""
        self.connection.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.organization_id == int(organization_id),
                idempotency_keys.c.idempotency_key == key,
            )
            .values(status=status, response=response, response_headers=msgspec.json.encode(headers).decode())
        )

    def purge_key(self, organization_id: str, key: str, before_ms: int) -> None:
        """Forget `key` if it was created before `before_ms` (so it can be claimed anew)."""
        self.connection.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.organization_id == int(organization_id),
                idempotency_keys.c.idempotency_key == key,
                idempotency_keys.c.created_at_ms < before_ms,
            )
        )

    def purge(self, organization_id: str, before_ms: int) -> int:
        """Forget the organization's keys created before `before_ms`; how many were removed."""
        result = self.connection.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.organization_id == int(organization_id),
                idempotency_keys.c.created_at_ms < before_ms,
            )
        )
        return int(result.rowcount or 0)
