"""searches in company, email and time order walk an index that carries the search key

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 06:00:00.000000

A search (`search_text=`) read by a walk tests each row's search key (name, company, email and phone joined). In
name order the walked index has carried it since migration 0012, so the walk tests entries (~0.4 µs each); in the
other orders the walk read each row (~3.4 µs), and a mid-broad term's page cost 20-66 ms over 1,000,000 customers
(`search_text=labs` by company, `search_text=iv` by email or creation time). The walked indexes of migrations
0014 and 0015 now carry it last, so those walks test entries too (~0.15-0.35 µs). No write touches another index:
the search key changes only with a key, and an update that changes a key already rewrites each of these. About
90 bytes more per customer in each; rebuilding the four takes about a minute over 1,000,000 customers with the
file in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
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
)
# name: (columns before, sqlite_stat1's rows per value of the leading key, SQLite only)
INDEXES = {
    "ix_contacts_by_creation": (["organization_id", "created_at_ms", "contact_id", *KEYS], "2", False),
    "ix_contacts_by_change": (["organization_id", "updated_at_ms", "contact_id", *KEYS], "2", False),
    "ix_contacts_by_company": (
        ["organization_id", "company_name_key", "contact_id", *(k for k in KEYS if k != "company_name_key")],
        "100",
        True,
    ),
    "ix_contacts_by_email": (
        ["organization_id", "email_key", "contact_id", "contact_name_key", "status", "created_at_ms",
         "company_name_key", "first_name_key", "last_name_key", "phone_key"],
        "2",
        False,
    ),
}  # fmt: skip


def _rebuild(*, upgrade: bool) -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for index, (before, per_value, sqlite_only) in INDEXES.items():
        if sqlite_only and not sqlite:
            continue
        columns = [*before, "search_key"] if upgrade else before
        op.drop_index(index, table_name="contacts")
        op.create_index(index, "contacts", columns)
        if sqlite:
            # perf1's line for the index (one organization of 1,000,000 rows), at its new width.
            bind.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
            bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (index,))
            stat = " ".join(["1000000", "1000000", per_value, *["1"] * (len(columns) - 2)])
            bind.exec_driver_sql(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, ?)", (index, stat)
            )
    if sqlite:
        bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads the statistics now


def upgrade() -> None:
    _rebuild(upgrade=True)


def downgrade() -> None:
    _rebuild(upgrade=False)
