"""SQLite: the trigram index holds the first and last names followed by two separators too

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 20:30:00.000000

Migration 0010 ended the indexed search key with two separators, so a term of 1 or 2 characters in the name,
company, email or phone key is found from the trigrams that start with it (storage/substring_plans.py). The
first and last names are not in the search key, so their short filters still read every row of a listing
(seconds over 1,000,000 customers for a rare pair). The index's first and last name columns now take their keys
with the same two separators at their end, through the content view and the triggers' queue as in 0010; the
stored keys are unchanged. Terms hold no \\x1f, so every search finds exactly what it found. PostgreSQL's pg_trgm
indexes are unchanged. Rebuilding the index takes about a minute over 1,000,000 customers.
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
SEPARATED_AFTER = frozenset({"first_name_key", "last_name_key", "search_key"})


def _value(row: str, key: str, separated: frozenset[str]) -> str:
    return f"{row}.{key} || {SUFFIX}" if key in separated else f"{row}.{key}"


def _rebuild(separated: frozenset[str]) -> None:
    """Recreate the content view, contacts_fts and the triggers that queue its entries with the `separated`
    keys ending in two separators, then fill the index."""
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS contacts_fts")
    op.execute("DROP VIEW IF EXISTS contacts_fts_source")
    view_columns = ", ".join(f"{key} || {SUFFIX} AS {key}" if key in separated else key for key in KEYS)
    op.execute(f"CREATE VIEW contacts_fts_source AS SELECT contact_id, {view_columns} FROM contacts")
    op.execute(
        f"CREATE VIRTUAL TABLE contacts_fts USING fts5({COLUMNS}, content='contacts_fts_source', "
        "content_rowid='contact_id', tokenize='trigram', detail=none)"
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
        _rebuild(SEPARATED_AFTER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(SEPARATED_BEFORE)
