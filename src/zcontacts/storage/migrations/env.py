"""Alembic environment: runs on the connection zcontacts hands it, or opens one from the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from zcontacts.storage.engine import make_engine
from zcontacts.storage.tables import metadata

# Any fixed number: concurrent starts of several replicas migrate one at a time on PostgreSQL.
_MIGRATION_LOCK = 7_204_611


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Autogenerate ignores the FTS5 index and its shadow tables, which migrations manage by hand."""
    return not (type_ == "table" and name is not None and name.startswith("contacts_fts"))


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, include_name=_include_name
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as new_connection:
        _run(new_connection)
    engine.dispose()
