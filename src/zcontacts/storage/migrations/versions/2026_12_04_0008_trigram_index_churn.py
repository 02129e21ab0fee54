"""SQLite: count the trigram index's cancelled entries, so the compactor merges an index that churned

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 22:00:00.000000

When a contact is deleted or its keys change, FTS5 does not remove its old index entries: it adds entries
that cancel them, and both stay until a merge reaches the segments that hold them. The compactor
(storage/search_index.py) merged only an index of more than 8 segments, so an index of a few segments full of
cancelled entries stayed as it was: the benchmark's 10,000-customer file, after runs that created and deleted
~170,000 customers, held a 33 MB index for 3 MB of live entries, and each index write cost 8 times as much.

One row counts the unindex entries moved into the index since it was last merged into one segment; the
queue's batches add to it and the compactor's full merge takes them off. The compactor also merges once that
count reaches a tenth of the customers. The count starts at 0: an index that churned before this migration
is merged when its next cancellations reach the threshold or it passes 8 segments, as before. PostgreSQL's
pg_trgm indexes need nothing of this.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE contacts_fts_upkeep (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "cancelled_entries INTEGER NOT NULL)"
    )
    op.execute("INSERT INTO contacts_fts_upkeep (id, cancelled_entries) VALUES (1, 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TABLE contacts_fts_upkeep")
