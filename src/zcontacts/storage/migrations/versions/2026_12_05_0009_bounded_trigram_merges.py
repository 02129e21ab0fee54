"""SQLite: the trigram index merges in bounded steps after each queue batch, not in FTS5's automatic merges

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 20:30:00.000000

FTS5 merges an index's segments by itself after the transactions that write it (`automerge`, 4 segments a
level by default), and the work it does at a time is not bounded: moving 64 deletes' entries from the queue
into the index (storage/search_index.py, inside a group-commit batch on the event loop) mostly took 7–10 ms
on a slow machine, but one batch in a hundred took 55–90 ms and the worst 85–155 ms, every waiting write held
up for it. Automatic merging is turned off here; `apply_pending` follows each batch with FTS5's 'merge'
command for at most APPLY_MERGE_PAGES pages, under the same rule (a level of 4 segments, FTS5's
`usermerge`), and the background compactor still merges a quiet index into one segment. PostgreSQL's pg_trgm
indexes need nothing of this.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('automerge', 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('automerge', 4)")  # FTS5's default
