"""first and last name filters read in name order, straight from their indexes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:00:00.000000

`?first_name=Ivan` (or `last_name`, each also `_startswith`) lists its customers in some order, by name unless
asked. Their indexes held them in id order, so SQLite read every matching row, scattered over the file, to test
its status and sort it: over 1,000,000 customers (24,947 named Ivan) 56-68 ms in any order, 180 ms for
`first_name_startswith=a` (about 100,000). These indexes hold each name part's customers in name order, carrying
the status and every other sort's key: in name order a page is the index's next entries (0.2 ms); in another, or
by prefix, SQLite sorts index entries alone and reads only the page's rows (storage/contacts.py, _rows_last_sql:
2-21 ms, 31 ms for `first_name_startswith=a` in reverse name order). Names are unique in an organization, so the name key orders ties. About 90 bytes more
per customer in each index; the fixed planner statistics of migration perf1 gain their lines (SQLite), without
which SQLite would scan one of these for a name search's walk; rebuilding both takes a few seconds over 1,000,000
customers.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTS = ("first_name_key", "last_name_key")
# After the name part: the name (the default order), then what the other orders and a status filter read.
CARRIED = (
    "contact_name_key",
    "status",
    "created_at_ms",
    "updated_at_ms",
    "contact_id",
    "company_name_key",
    "email_key",
)
# perf1's statistics: one organization of 1,000,000 rows, 1,000 per first or last name, names unique.
STAT = " ".join(["1000000", "1000000", "1000", *["1"] * len(CARRIED)])


def _old(part: str) -> str:
    return f"ix_contacts_organization_id_{part}_contact_id"


def _new(part: str) -> str:
    return f"ix_contacts_{part.removesuffix('_key')}_in_name_order"


def _statistics(drop: list[str], add: list[str]) -> None:
    bind = op.get_bind()
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
    for index in drop + add:
        bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (index,))
    for index in add:
        stat = STAT if index.endswith("_in_name_order") else "1000000 1000000 1000 1"
        bind.exec_driver_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, ?)", (index, stat)
        )
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads the statistics now


def upgrade() -> None:
    for part in PARTS:
        op.drop_index(_old(part), table_name="contacts")
        op.create_index(_new(part), "contacts", ["organization_id", part, *CARRIED])
    if op.get_bind().dialect.name == "sqlite":
        _statistics([_old(part) for part in PARTS], [_new(part) for part in PARTS])


def downgrade() -> None:
    for part in PARTS:
        op.drop_index(_new(part), table_name="contacts")
        op.create_index(_old(part), "contacts", ["organization_id", part, "contact_id"])
    if op.get_bind().dialect.name == "sqlite":
        _statistics([_new(part) for part in PARTS], [_old(part) for part in PARTS])
