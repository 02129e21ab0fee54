"""list plans at scale: a status index that carries the tie order, and fixed planner statistics on SQLite

Revision ID: perf1
Revises: 0002
Create Date: 2026-11-25 08:00:00.000000

Without statistics SQLite guesses that `organization_id = ?` matches ten rows, so for every filtered listing it
walks the sort order's index and tests each row: at a million customers a company filter took 1.6 s and a
rare search 4.5 s. The fixed statistics below describe one large organization (SQLite's documented
sqlite_stat1 format: rows in the index, then rows per distinct value of each prefix), so the planner uses a
selective filter's index and sorts the few rows it finds. They are fixed, not measured, so every database,
from empty to millions of rows, gets the same plans (the test suite checks them); running ANALYZE replaces
them with measured ones. The status index gains contact_id, and each other sort column gets a status index,
so every `filter_by` listing is read in its (sort key, id) order straight from an index instead of walking
every customer and reading its row (12 s for the inactive customers of a million, by email).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "perf1"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUS_INDEX = "ix_contacts_organization_id_status_contact_name_key"
NEW_STATUS_INDEX = "ix_contacts_organization_id_status_contact_name_key_contact_id"
STATUS_SORT_COLUMNS = ("company_name_key", "email_key", "created_at_ms", "updated_at_ms")

ROWS = 1_000_000
# Rows sharing one value of a column, in the large organization the statistics describe.
ROWS_PER_VALUE = {
    "organization_id": ROWS,
    "status": ROWS // 2,
    "company_name_key": 100,
    "first_name_key": 1000,
    "last_name_key": 1000,
    "email_key": 2,
    "phone_key": 2,
    "created_at_ms": 2,
    "updated_at_ms": 2,
    "contact_name_key": 1,
    "contact_id": 1,
}


def stat_line(columns: list[str]) -> str:
    """sqlite_stat1's `stat` of an index on `columns`: rows, then rows per distinct prefix (never growing)."""
    values = [ROWS]
    for name in columns:
        values.append(min(values[-1], ROWS_PER_VALUE.get(name, 10)))
    return " ".join(str(v) for v in values)


def upgrade() -> None:
    op.drop_index(OLD_STATUS_INDEX, table_name="contacts")
    op.create_index(
        NEW_STATUS_INDEX, "contacts", ["organization_id", "status", "contact_name_key", "contact_id"]
    )
    for column in STATUS_SORT_COLUMNS:
        op.create_index(
            f"ix_contacts_organization_id_status_{column}_contact_id",
            "contacts",
            ["organization_id", "status", column, "contact_id"],
        )
    if op.get_bind().dialect.name == "sqlite":
        _fixed_statistics()


def _fixed_statistics() -> None:
    bind = op.get_bind()
    # Creates sqlite_stat1 when missing (analyzing only the schema table, which has no indexes).
    bind.exec_driver_sql("ANALYZE sqlite_schema")
    bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts'")
    for (index,) in bind.exec_driver_sql("SELECT name FROM pragma_index_list('contacts')").all():
        columns = [
            str(row[0])
            for row in bind.exec_driver_sql(
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (index,)
            ).all()
        ]
        bind.exec_driver_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, ?)", (index, stat_line(columns))
        )
    bind.exec_driver_sql(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', NULL, ?)", (str(ROWS),)
    )
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads the statistics now


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.get_bind().exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts'")
    for column in STATUS_SORT_COLUMNS:
        op.drop_index(f"ix_contacts_organization_id_status_{column}_contact_id", table_name="contacts")
    op.drop_index(NEW_STATUS_INDEX, table_name="contacts")
    op.create_index(OLD_STATUS_INDEX, "contacts", ["organization_id", "status", "contact_name_key"])
