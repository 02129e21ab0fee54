"""PostgreSQL: list pages in name or company order walk an index that carries every key a listing tests

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:40:00.000000

On PostgreSQL a filtered page is walked along its order's index under a deadline (storage/postgres_pages.py). In
email, creation and change order that index carries the status, every filter key and the search key (migrations
0013-0016), so the walk reads the page's ids from the index alone, an index-only scan (~0.3 µs an entry over
1,000,000 customers), then their rows (ContactsRepo.walk_statement). The name and company orders had only their
narrow indexes there, so their walks read the row behind each entry (1-3 µs): 20-350 ms a page. These two indexes
carry the same keys (INCLUDE: not part of the order). The narrow ones stay, for unfiltered pages: PostgreSQL's
planner sorts the company order rather than walk a wide index (migration 0015). SQLite's walked indexes already
carry them (0006, 0012, 0015, 0016): nothing changes there. Building the two takes about a minute over 1,000,000
customers; each create writes two more index entries, and an update that changes a key rewrites them.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (
    "status",
    "contact_name_key",
    "company_name_key",
    "first_name_key",
    "last_name_key",
    "email_key",
    "phone_key",
    "search_key",
)
# name: (the order's columns, the keys carried beside them)
INDEXES = {
    "ix_contacts_walk_name": (
        ["organization_id", "contact_name_key"],
        ["contact_id", *(k for k in KEYS if k != "contact_name_key")],
    ),
    "ix_contacts_walk_company": (
        ["organization_id", "company_name_key", "contact_id"],
        [k for k in KEYS if k != "company_name_key"],
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for index, (columns, carried) in INDEXES.items():
        op.create_index(index, "contacts", columns, postgresql_include=carried)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for index in INDEXES:
        op.drop_index(index, table_name="contacts")
