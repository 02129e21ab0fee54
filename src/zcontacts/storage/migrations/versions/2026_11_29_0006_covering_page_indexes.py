"""SQLite: list pages in name order read from covering indexes, not from rows all over the file

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 11:20:00.000000

A page of the default listing (every customer, or one company's, by name) read 201 index entries and then 201
rows scattered over the file, each row ~4 KB and spilling into an overflow page: over 1,000,000 customers
~450 pages per request, 1.1 ms in SQLite. These indexes carry the list row (summary_doc) in name order, so a
page is ~30 neighbouring index pages: 0.18 ms. On SQLite the company index of migration 0005 becomes its
covering form (the same entries plus the row, one index instead of two to write); PostgreSQL keeps 0005's.
The fixed planner statistics of migration perf1 gain their lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPANY_INDEX = "ix_contacts_organization_id_company_name_key_contact_name_key"  # migration 0005
NAME_PAGES = "ix_contacts_name_pages"
COMPANY_PAGES = "ix_contacts_company_pages"
# Columns and perf1's statistics: one organization of 1,000,000 rows, 100 per company, names unique.
INDEXES = {
    NAME_PAGES: (
        ["organization_id", "contact_name_key", "contact_id", "summary_doc"],
        "1000000 1000000 1 1 1",
    ),
    COMPANY_PAGES: (
        ["organization_id", "company_name_key", "contact_name_key", "contact_id", "summary_doc"],
        "1000000 1000000 100 1 1 1",
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    op.drop_index(COMPANY_INDEX, table_name="contacts")
    bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (COMPANY_INDEX,))
    for name, (columns, stat) in INDEXES.items():
        op.create_index(name, "contacts", columns)
        bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (name,))
        bind.exec_driver_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, ?)", (name, stat)
        )
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads the statistics now


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in INDEXES:
        bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (name,))
        op.drop_index(name, table_name="contacts")
    op.create_index(COMPANY_INDEX, "contacts", ["organization_id", "company_name_key", "contact_name_key"])
    bind.exec_driver_sql(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, '1000000 1000000 100 1')",
        (COMPANY_INDEX,),
    )
    bind.exec_driver_sql("ANALYZE sqlite_schema")
