"""SQLite: the trigram index keeps which key holds each trigram; first and last names end in two separators

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:30:00.000000

Two changes to contacts_fts, made by one rebuild (about 2 minutes over 1,000,000 customers):

- `detail=column` instead of `none`: the index records which of its columns (keys) hold each trigram, so a
  filter on one key asks for that column alone (`{contact_name_key} : (...)`). Without it a name filter for
  `com` had every .com address as a candidate (399,700 of 1,000,000), each read and rejected on its row:
  ~0.5 s for a page with no row in it; the column's own candidates are found in ~9 ms. The index grows about
  threefold (106 -> 335 MB over 1,000,000 customers); moving the queue into it costs the same. FTS5 serves no
  phrase queries at this detail; the trigram queries are single trigrams joined by AND and OR.
- Every key, not only the search key (migration 0010), is indexed with two separators at its end, so a term of
  1 or 2 characters is found in its own key's column from the trigrams that start with it
  (storage/substring_plans.py). The first and last names, not in the search key, had no such column, and their
  short filters read every row of a listing (seconds over 1,000,000 customers for a rare pair). As in 0010, the
  content view and the triggers' queue add the separators; the stored keys are unchanged.

Terms hold no \\x1f, so every search finds exactly what it found. PostgreSQL's pg_trgm indexes are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migration SQL repeats the trigram columns on purpose: a migration keeps its own copy of the schema it makes.
KEYS = (
    "contact_name_key",
    "company_name_key",
    "email_key",
    "phone_key",
    "first_name_key",
    "last_name_key",
    "search_key",
)
COLUMNS = ", ".join(KEYS)
TRIGGERS = ("contacts_fts_insert", "contacts_fts_delete", "contacts_fts_update")
SUFFIX = "char(31, 31)"
SEPARATED_BEFORE = frozenset({"search_key"})  # 0010's
SEPARATED_AFTER = frozenset(KEYS)


def _value(row: str, key: str, separated: frozenset[str]) -> str:
    return f"{row}.{key} || {SUFFIX}" if key in separated else f"{row}.{key}"


def _rebuild(separated: frozenset[str], detail: str) -> None:
    """Recreate the content view, contacts_fts (at `detail`) and the triggers that queue its entries with the
    `separated` keys ending in two separators, then fill the index."""
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS contacts_fts")
    op.execute("DROP VIEW IF EXISTS contacts_fts_source")
    view_columns = ", ".join(f"{key} || {SUFFIX} AS {key}" if key in separated else key for key in KEYS)
    op.execute(f"CREATE VIEW contacts_fts_source AS SELECT contact_id, {view_columns} FROM contacts")
    op.execute(
        f"CREATE VIRTUAL TABLE contacts_fts USING fts5({COLUMNS}, content='contacts_fts_source', "
        f"content_rowid='contact_id', tokenize='trigram', detail={detail})"
    )
    op.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('automerge', 0)")  # as 0009 set
    queued = {row: ", ".join(_value(row, key, separated) for key in KEYS) for row in ("new", "old")}
    add = (
        f"INSERT INTO contacts_fts_pending (contact_id, command, {COLUMNS}) "
        f"VALUES (new.contact_id, NULL, {queued['new']});"
    )
    drop = (
        f"INSERT INTO contacts_fts_pending (contact_id, command, {COLUMNS}) "
        f"VALUES (old.contact_id, 'delete', {queued['old']});"
    )
    op.execute(f"CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN {add} END")
    op.execute(f"CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN {drop} END")
    op.execute(
        f"CREATE TRIGGER contacts_fts_update AFTER UPDATE OF {COLUMNS} ON contacts BEGIN {drop} {add} END"
    )
    # The rebuild indexes every row as it is now: what was queued is moot, and nothing is cancelled.
    op.execute("INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')")
    op.execute("DELETE FROM contacts_fts_pending")
    op.execute("UPDATE contacts_fts_upkeep SET cancelled_entries = 0")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(SEPARATED_AFTER, "column")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(SEPARATED_BEFORE, "none")
