"""lean trigram index on SQLite: FTS5 with detail=none

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 08:30:00.000000

The trigram index behind the `_contains` filters and search_text kept, for every trigram of every key, the
column and the offset it occurs at (FTS5's default detail=full). The substring queries never use them:
FTS5 checks each candidate's GLOB against the row itself either way, so detail=none answers every query
with exactly the same rows (tests/storage/test_trigram_index.py compares them) from an index about a fifth
the size, and each write tokenizes into it at about three quarters of the cost (docs/PERFORMANCE.md).
PostgreSQL's pg_trgm indexes are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (
    "contact_name_key",
    "company_name_key",
    "email_key",
    "phone_key",
    "first_name_key",
    "last_name_key",
    "search_key",
)


def rebuild_trigram_index(detail: str) -> None:
    """Recreate contacts_fts with `detail` and the triggers that keep it in step, then fill it."""
    columns = ", ".join(KEYS)
    new = ", ".join(f"new.{key}" for key in KEYS)
    old = ", ".join(f"old.{key}" for key in KEYS)
    for trigger in ("contacts_fts_insert", "contacts_fts_delete", "contacts_fts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS contacts_fts")
    op.execute(
        f"CREATE VIRTUAL TABLE contacts_fts USING fts5({columns}, content='contacts', "
        f"content_rowid='contact_id', tokenize='trigram', detail={detail})"
    )
    op.execute(
        f"CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN "
        f"INSERT INTO contacts_fts(rowid, {columns}) VALUES (new.contact_id, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN "
        f"INSERT INTO contacts_fts(contacts_fts, rowid, {columns}) VALUES ('delete', old.contact_id, {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER contacts_fts_update AFTER UPDATE OF {columns} ON contacts BEGIN "
        f"INSERT INTO contacts_fts(contacts_fts, rowid, {columns}) VALUES ('delete', old.contact_id, {old}); "
        f"INSERT INTO contacts_fts(rowid, {columns}) VALUES (new.contact_id, {new}); END"
    )
    op.execute("INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        rebuild_trigram_index("none")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        rebuild_trigram_index("full")
