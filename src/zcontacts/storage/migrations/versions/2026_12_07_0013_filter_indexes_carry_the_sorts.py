"""first name, last name, email and phone filters read from their indexes alone

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:00:00.000000

`?first_name=Ivan` (or `last_name`, `email`, `phone`, each also `_startswith`) lists its customers in some order,
by name unless asked. Their indexes held a value's customers in id order, and nothing else, so SQLite read every
matching row, scattered over the file, to test its status and sort it: over 1,000,000 customers (24,947 named
Ivan) 56-68 ms in any order, 180 ms for `first_name_startswith=a`, 66 ms for `email_startswith=ivan` by name.

Each index now carries the status and the sorts' keys after its own, but for the time of the last change, which
every update writes (carried, it made an update rewrite four more index entries: +11 % CPU). The first and last
name and phone indexes hold a value's customers in name order: in name order a page is the index's next entries
(0.2 ms). The email index keeps its (email, id) order, which the email sort's pages and marks walk. In any other
order but the last change's, or by prefix, SQLite sorts index entries alone and reads only the page's rows
(storage/contacts.py, _rows_last_sql: 2-32 ms; a name part's prefix in name order merges its values' runs
instead, storage/value_plan.py: ~1 ms). Names are unique in an organization, so the name key orders ties. About
50-70 bytes more per customer in each index; the fixed planner statistics of migration perf1 gain their lines
(SQLite), without which SQLite would scan one of these for a name search's walk; rebuilding the four takes about
20 s over 1,000,000 customers with the file in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each filter's key, then what the index carries (the default order first, but for email, whose own sort walks
# the index in (email, id) order). Not the time of the last change: every update would rewrite all four.
SORTS = ("status", "created_at_ms")
INDEXES = {
    "first_name_key": ("contact_name_key", *SORTS, "contact_id", "company_name_key", "email_key"),
    "last_name_key": ("contact_name_key", *SORTS, "contact_id", "company_name_key", "email_key"),
    "phone_key": ("contact_name_key", *SORTS, "contact_id", "company_name_key", "email_key"),
    "email_key": ("contact_id", "contact_name_key", *SORTS, "company_name_key"),
}
# perf1's statistics: one organization of 1,000,000 rows, 1,000 per first or last name, 2 per email or phone.
PER_VALUE = {"first_name_key": "1000", "last_name_key": "1000", "phone_key": "2", "email_key": "2"}


def _old(key: str) -> str:
    return f"ix_contacts_organization_id_{key}_contact_id"


def _new(key: str) -> str:
    return f"ix_contacts_by_{key.removesuffix('_key')}"


def _statistics(key: str, drop: str, add: str, columns: int) -> None:
    bind = op.get_bind()
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
    for index in (drop, add):
        bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (index,))
    stat = " ".join(["1000000", "1000000", PER_VALUE[key], *["1"] * columns])
    bind.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, ?)", (add, stat))
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads the statistics now


def upgrade() -> None:
    for key, carried in INDEXES.items():
        op.drop_index(_old(key), table_name="contacts")
        op.create_index(_new(key), "contacts", ["organization_id", key, *carried])
        if op.get_bind().dialect.name == "sqlite":
            _statistics(key, _old(key), _new(key), len(carried))


def downgrade() -> None:
    for key in INDEXES:
        op.drop_index(_new(key), table_name="contacts")
        op.create_index(_old(key), "contacts", ["organization_id", key, "contact_id"])
        if op.get_bind().dialect.name == "sqlite":
            _statistics(key, _new(key), _old(key), 1)
