"""SQLite: the trigram index is kept in step in batches, from a queue the triggers fill

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 20:00:00.000000

Every write of a contact tokenized its keys into the FTS5 trigram index inside its own transaction, and FTS5
flushes a new segment per transaction: a third of a create's SQL and over a quarter of a delete's CPU, for an
index only searches read. Now the triggers append what to index (or unindex) to contacts_fts_pending, one row
on a table's last page, and the server moves the queue into the index in batches (storage/search_index.py):
64 writes' worth at once cost an eighth of what they cost one by one (docs/PERFORMANCE.md).

Searches stay exact meanwhile: a search takes the rows the index matches plus the rows queued for indexing and
confirms each on the row's own key (storage/contacts.py), so a queued row is found and a stale index entry
(a row since changed or deleted) never is. A queued entry carries the keys as the row had them, so the queue
applied in order leaves the index exactly as the old triggers did. The index's content is unchanged: no
rebuild. PostgreSQL's pg_trgm indexes are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
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
TRIGGERS = ("contacts_fts_insert", "contacts_fts_delete", "contacts_fts_update")
COLUMNS = ", ".join(KEYS)
NEW = ", ".join(f"new.{key}" for key in KEYS)
OLD = ", ".join(f"old.{key}" for key in KEYS)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    # command: NULL to index the keys, 'delete' to unindex them (FTS5's own command column, as applied).
    op.execute(
        "CREATE TABLE contacts_fts_pending (seq INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, "
        f"command TEXT, {', '.join(f'{key} TEXT NOT NULL' for key in KEYS)})"
    )
    add = f"INSERT INTO contacts_fts_pending (contact_id, command, {COLUMNS}) VALUES (new.contact_id, NULL, {NEW});"
    drop = (
        f"INSERT INTO contacts_fts_pending (contact_id, command, {COLUMNS}) "
        f"VALUES (old.contact_id, 'delete', {OLD});"
    )
    op.execute(f"CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN {add} END")
    op.execute(f"CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN {drop} END")
    op.execute(
        f"CREATE TRIGGER contacts_fts_update AFTER UPDATE OF {COLUMNS} ON contacts BEGIN {drop} {add} END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # What is queued goes into the index first, so the index is complete for the synchronous triggers.
    op.execute(
        f"INSERT INTO contacts_fts (contacts_fts, rowid, {COLUMNS}) "
        f"SELECT command, contact_id, {COLUMNS} FROM contacts_fts_pending ORDER BY seq"
    )
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE contacts_fts_pending")
    op.execute(
        f"CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN "
        f"INSERT INTO contacts_fts(rowid, {COLUMNS}) VALUES (new.contact_id, {NEW}); END"
    )
    op.execute(
        f"CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN "
        f"INSERT INTO contacts_fts(contacts_fts, rowid, {COLUMNS}) VALUES ('delete', old.contact_id, {OLD}); END"
    )
    op.execute(
        f"CREATE TRIGGER contacts_fts_update AFTER UPDATE OF {COLUMNS} ON contacts BEGIN "
        f"INSERT INTO contacts_fts(contacts_fts, rowid, {COLUMNS}) VALUES ('delete', old.contact_id, {OLD}); "
        f"INSERT INTO contacts_fts(rowid, {COLUMNS}) VALUES (new.contact_id, {NEW}); END"
    )
