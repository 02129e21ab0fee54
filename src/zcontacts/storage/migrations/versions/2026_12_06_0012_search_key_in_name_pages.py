"""SQLite: the name-order page index carries the search key

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:00:00.000000

A search read in name order (the default) by walking the listing tests each row's search key. The covering index
of migration 0006 (organization, name key, id, list row) holds the name key, not the search key, so the walk
read each row from the table (~3.4 µs a row over 1,000,000 customers) or tested each entry's id against the
term's candidates gathered first (~0.5 µs a row, plus ~0.17 µs a candidate: 68 ms to gather `com`'s 400,000).
With the search key in the index, the walk tests each entry as it passes (~0.4 µs a row): a broad term's deep
page (`search_text=com&page=50`) and a mid-broad term's later pages no longer cost tens of milliseconds. The key
goes before the list row, so it stays in the entry's part on the index page. About 60 bytes more per customer;
rebuilding the index takes about 1.5 minutes over 1,000,000 customers. PostgreSQL has no such index.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_PAGES = "ix_contacts_name_pages"
BEFORE = ["organization_id", "contact_name_key", "contact_id", "summary_doc"]  # migration 0006
AFTER = ["organization_id", "contact_name_key", "contact_id", "search_key", "summary_doc"]


def _recreate(columns: list[str]) -> None:
    """The name-order page index on `columns`, with perf1's statistics (one organization of 1,000,000 rows,
    names unique)."""
    bind = op.get_bind()
    op.drop_index(NAME_PAGES, table_name="contacts")
    op.create_index(NAME_PAGES, "contacts", columns)
    bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (NAME_PAGES,))
    stat = " ".join(["1000000", "1000000", *["1"] * (len(columns) - 1)])  # rows, then rows per prefix
    bind.exec_driver_sql(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, ?)", (NAME_PAGES, stat)
    )
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads the statistics now


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate(AFTER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate(BEFORE)
