"""PostgreSQL: the name, company and email trigram indexes hold each key after its first character

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:30:00.000000

A key holds a term either at its start or after its first character: `key LIKE 'ivan%' OR substr(key, 2) LIKE
'%ivan%'` is `key LIKE '%ivan%'`. The first half is a range of the key's B-tree index, read in the key's order; the
second is what these trigram indexes answer. Names, companies and emails are searched by how they begin
(`contact_name_contains=ivan` over 1,000,000 customers: 24,947 matches, every one an "Ivan …"), so in the key's own
order the matches sit together and a walk of the order passes ~400,000 entries before them (120-160 ms), where the
range reads them in order and the second half finds no rows at all (ContactsRepo.walk_statement). Where a term is
found anywhere else in the key, the second half finds those rows as the whole key's index did. The index replaces
the whole key's, so a write updates as many trigram indexes as before. SQLite's trigram index is FTS5 (migrations
0004-0011): nothing changes there. Building the three takes about 20 s over 1,000,000 customers, and the
migration ends with an ANALYZE of the table (about a second).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = ("contact_name_key", "company_name_key", "email_key")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for key in KEYS:
        op.execute(
            f"CREATE INDEX ix_contacts_trgm_tail_{key} ON contacts USING gin (substr({key}, 2) gin_trgm_ops)"
        )
        op.execute(f"DROP INDEX ix_contacts_trgm_{key}")
    # The planner estimates `substr(key, 2) LIKE …` from statistics of the indexed expression, which only ANALYZE
    # gathers; without them it took `email_contains=gmail` (most customers) for a rare term and read every match
    # (~800 ms a page over 1,000,000 customers, against a few ms walked).
    op.execute("ANALYZE contacts")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for key in KEYS:
        op.execute(f"CREATE INDEX ix_contacts_trgm_{key} ON contacts USING gin ({key} gin_trgm_ops)")
        op.execute(f"DROP INDEX ix_contacts_trgm_tail_{key}")
