"""Server-wide unique ids drawn from the database, so replicas never collide (no in-process counters)."""

from __future__ import annotations

from sqlalchemy import Connection, text

from zcontacts.storage.prepared import Prepared, Runner

# Zoho ids are long numeric strings; ours start where they look alike (17 digits).
CONTACT_ID_START = 46_000_000_000_000_001
# SQLite's history entries (comment ids) count up from here (storage/contacts.py): a range of their own that
# the sequence, a quadrillion ids below, never reaches.
HISTORY_ID_START = 47_000_000_000_000_001
# The first organization gets the id the reference's examples use, so they work as written.
ORGANIZATION_ID_START = 10_234_695

SEQUENCES = {"ids": CONTACT_ID_START, "organization_ids": ORGANIZATION_ID_START}

_POSTGRES_NEXT = {
    name: Prepared(text(f"SELECT nextval('{name}') FROM generate_series(1, :count)")) for name in SEQUENCES
}
_SQLITE_TAKE = Prepared(
    text("UPDATE id_sequences SET next_value = next_value + :count WHERE name = :name RETURNING next_value")
)


def allocate(connection: Connection | Runner, count: int, sequence: str = "ids") -> list[int]:
    """`count` fresh ids from `sequence`, inside the caller's transaction (a Runner takes SQLite's fast
    path)."""
    if count <= 0:
        return []
    runner = connection if isinstance(connection, Runner) else Runner(connection)
    if runner.driver is None:
        return [row[0] for row in runner.rows(_POSTGRES_NEXT[sequence], {"count": count})]
    ((after,),) = runner.rows(_SQLITE_TAKE, {"count": count, "name": sequence})
    return list(range(after - count, after))
