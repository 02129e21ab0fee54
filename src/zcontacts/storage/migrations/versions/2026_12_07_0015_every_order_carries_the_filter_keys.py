"""list pages in name, company or email order walk an index that carries every filter's key

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 05:40:00.000000

Migration 0014 let a filter's page in time order walk the time's index, testing each entry there. The other orders
had the same two slow ways to a common filter's page over 1,000,000 customers: `company_name_startswith=a` in
name order (58-422 ms) or by email (298-327 ms) sorted every match, and `phone_startswith=+1-2` by company read
each row the walk passed. Each order's walked index now carries the status and the six filter keys too:

- the name order's page index (SQLite, migrations 0006 and 0012), before the list row it ends with;
- the company order's (organization, company, id), renamed `ix_contacts_by_company` (SQLite: PostgreSQL's planner
  sorted the company order rather than walk the wider index);
- the email index of migration 0013 gains the first and last name and the phone.

No write touches more indexes than before: the first is rewritten by every update (it holds the list row), the
others by an update that changes a key (which rewrites every index holding one). About 60-80 bytes more per
customer in each; rebuilding the three takes one to two minutes over 1,000,000 customers with the file in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = ("status", "company_name_key", "first_name_key", "last_name_key", "email_key", "phone_key")
NAME_PAGES = "ix_contacts_name_pages"
BY_COMPANY = "ix_contacts_by_company"
OLD_COMPANY = "ix_contacts_organization_id_company_name_key_contact_id"
BY_EMAIL = "ix_contacts_by_email"
# (name, columns before, columns after, sqlite_stat1's rows per value of the leading key, SQLite only)
INDEXES = [
    (
        NAME_PAGES,
        ["organization_id", "contact_name_key", "contact_id", "search_key", "summary_doc"],
        ["organization_id", "contact_name_key", "contact_id", "search_key", *KEYS, "summary_doc"],
        "1",
        True,
    ),
    (
        BY_COMPANY,
        ["organization_id", "company_name_key", "contact_id"],
        ["organization_id", "company_name_key", "contact_id", "status", "contact_name_key",
         "first_name_key", "last_name_key", "email_key", "phone_key"],
        "100",
        True,
    ),
    (
        BY_EMAIL,
        ["organization_id", "email_key", "contact_id", "contact_name_key", "status", "created_at_ms",
         "company_name_key"],
        ["organization_id", "email_key", "contact_id", "contact_name_key", "status", "created_at_ms",
         "company_name_key", "first_name_key", "last_name_key", "phone_key"],
        "2",
        False,
    ),
]  # fmt: skip


def _name(index: str, *, upgraded: bool) -> str:
    return index if upgraded or index != BY_COMPANY else OLD_COMPANY


def _rebuild(*, upgrade: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for index, before, after, per_value, sqlite_only in INDEXES:
        if sqlite_only and not sqlite:
            continue
        op.drop_index(_name(index, upgraded=not upgrade), table_name="contacts")
        columns = after if upgrade else before
        op.create_index(_name(index, upgraded=upgrade), "contacts", columns)
        if sqlite:
            _statistics(
                _name(index, upgraded=not upgrade), _name(index, upgraded=upgrade), per_value, columns
            )


def _statistics(drop: str, add: str, per_value: str, columns: list[str]) -> None:
    """perf1's line for the index (one organization of 1,000,000 rows), under its new name and width."""
    bind = op.get_bind()
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # creates sqlite_stat1 if missing
    for index in (drop, add):
        bind.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'contacts' AND idx = ?", (index,))
    stat = " ".join(["1000000", "1000000", per_value, *["1"] * (len(columns) - 2)])
    bind.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('contacts', ?, ?)", (add, stat))
    bind.exec_driver_sql("ANALYZE sqlite_schema")  # this connection reloads the statistics now


def upgrade() -> None:
    _rebuild(upgrade=True)


def downgrade() -> None:
    _rebuild(upgrade=False)
