"""list pages in time order walk an index that carries every filter's key

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 05:00:00.000000

A filter in creation or last-change order (`phone_startswith=+1-2&sort_column=last_modified_time`,
`company_name_startswith=a&sort_column=created_time`) had two ways to its page, both slow over 1,000,000
customers when many rows match: sort every match (each row read to find its time: 100-430 ms for 25,000-250,000
matches), or walk the time's index and read each row to test it. The time indexes now carry the status and the six
filter keys after (time, id), so a walk tests each entry on the index alone (~0.12 µs an entry: a page of a filter
that one row in 40 passes, ~1 ms; storage/walk_plan.py chooses it by cost).

The time of the last change is in its index already, so every update rewrites that entry whatever it carries;
the creation time's entry is rewritten now by an update that changes a key (a name, company, email, phone or the
status), not by others. About 60-90 bytes more per customer in each; rebuilding both takes a few seconds over
1,000,000 customers with the file in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARRIED = (
    "status",
    "contact_name_key",
    "company_name_key",
    "first_name_key",
    "last_name_key",
    "email_key",
    "phone_key",
)
INDEXES = {"created_at_ms": "ix_contacts_by_creation", "updated_at_ms": "ix_contacts_by_change"}


def _old(time: str) -> str:
    return f"ix_contacts_organization_id_{time}_contact_id"


def _statistics(drop: str, add: str, columns: int) -> None:
    """perf1's line for the index (one organization of 1,000,000 rows, 2 per time), under its new name."""
    bind = op.get_bind()
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
    for index in (drop, add):
        bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (index,))
    stat = " ".join(["1000000", "1000000", "2", *["1"] * columns])
    bind.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, ?)", (add, stat))
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads the statistics now


def upgrade() -> None:
    for time, new in INDEXES.items():
        op.drop_index(_old(time), table_name="contacts")
        op.create_index(new, "contacts", ["organization_id", time, "contact_id", *CARRIED])
        if op.get_bind().dialect.name == "sqlite":
            _statistics(_old(time), new, 1 + len(CARRIED))


def downgrade() -> None:
    for time, new in INDEXES.items():
        op.drop_index(new, table_name="contacts")
        op.create_index(_old(time), "contacts", ["organization_id", time, "contact_id"])
        if op.get_bind().dialect.name == "sqlite":
            _statistics(new, _old(time), 1)
