"""SQLite: the trigram index holds the search key followed by two separators

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:30:00.000000

A substring of 1 or 2 characters has no trigram of its own. In a text that ends with two separators every real
character starts a trigram, so the rows holding a character, or a pair, are the rows holding a trigram that
starts with it: one run of FTS5's vocabulary (storage/substring_plans.py). The search key already joins the
name, company, email and phone keys with \\x1f; the index now takes it with two more at its end. The stored key
is unchanged (no row is rewritten): the index's content is a view that adds them, so FTS5's rebuild and
integrity check read what was indexed (the view is not named contacts_fts_content: FTS5 names its own
content table so), and the triggers queue the same text for the index, so whatever applies
the queue, of this release or an older one, indexes and unindexes alike. Terms hold no \\x1f, so every search
finds exactly what it found. PostgreSQL's pg_trgm indexes are unchanged. Rebuilding the index takes about a
minute over 1,000,000 customers.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
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


def _values(row: str, *, separated: bool) -> str:
    """The trigger's values of the keys of `row` (new or old), the search key with its separators or not."""
    values = [f"{row}.{key}" for key in KEYS]
    if separated:
        values[-1] = f"{row}.search_key || {SUFFIX}"
    return ", ".join(values)


def _rebuild(content: str, *, separated: bool) -> None:
    """Recreate contacts_fts on `content` and the triggers that queue its entries, then fill it."""
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS contacts_fts")
    op.execute(
        f"CREATE VIRTUAL TABLE contacts_fts USING fts5({COLUMNS}, content='{content}', "
        "content_rowid='contact_id', tokenize='trigram', detail=none)"
    )
    op.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('automerge', 0)")  # as 0009 set
    add = (
        f"INSERT INTO contacts_fts_pending (contact_id, command, {COLUMNS}) "
        f"VALUES (new.contact_id, NULL, {_values('new', separated=separated)});"
    )
    drop = (
        f"INSERT INTO contacts_fts_pending (contact_id, command, {COLUMNS}) "
        f"VALUES (old.contact_id, 'delete', {_values('old', separated=separated)});"
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
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE VIEW contacts_fts_source AS SELECT contact_id, {', '.join(KEYS[:-1])}, "
        f"search_key || {SUFFIX} AS search_key FROM contacts"
    )
    _rebuild("contacts_fts_source", separated=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild("contacts", separated=False)
    op.execute("DROP VIEW contacts_fts_source")
