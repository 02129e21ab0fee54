"""A brand-new SQLite database made at head from one script instead of by replaying every migration.

The migrations stay the one definition of the schema. `sqlite_head.sql` is what they build on an empty SQLite
database, read back from it by `render`: its tables, indexes, triggers and virtual tables, and the rows the
migrations seed (the id sequences, the planner statistics, the Alembic revision). A test rebuilds it from the
migrations and fails when the two differ; `python -m zcontacts.storage.schema_snapshot` rewrites it after a new
migration. Loading it costs a few milliseconds; the migrations cost ~0.3 s, most of it importing Alembic, on the
first start of every new database (as Rails loads schema.rb into a new database rather than replaying its
migrations)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("sqlite_head.sql")
_HEADER = "-- The schema at head, as the migrations build it. Generated: python -m zcontacts.storage.schema_snapshot"
# Tables SQLite makes itself, never by CREATE TABLE.
_INTERNAL = "sqlite_"
# The tables CREATE VIRTUAL TABLE … USING fts5 makes beside the one named (those its options ask for).
_FTS5_SHADOWS = ("data", "idx", "content", "docsize", "config")


def render(connection: sqlite3.Connection) -> str:
    """SQL that makes an empty database hold what this one holds: its schema objects in creation order, then
    every row. An FTS5 table's shadow tables come with its CREATE VIRTUAL TABLE, so their rows replace what that
    statement wrote."""
    objects = connection.execute(
        "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    virtual = [
        name for kind, name, sql in objects if kind == "table" and sql.upper().startswith("CREATE VIRTUAL")
    ]
    shadow = {f"{table}_{suffix}" for table in virtual for suffix in _FTS5_SHADOWS}
    statements = [_HEADER]
    tables: list[str] = []
    for kind, name, sql in objects:
        if kind == "table":
            tables.append(name)
        if name in shadow:
            continue
        if name.startswith(_INTERNAL):
            # sqlite_stat1: ANALYZE of the schema table alone makes it and analyzes nothing. (sqlite_sequence
            # comes with the first AUTOINCREMENT table.)
            if name == "sqlite_stat1":
                statements.append("ANALYZE sqlite_schema;")
            continue
        statements.append(f"{sql};")
    for table in tables:
        verb = "INSERT OR REPLACE" if table in shadow else "INSERT"
        statements += [f"{verb} INTO {_quoted(table)} {row};" for row in _rows(connection, table)]
    # The planner reads sqlite_stat1 when a connection opens; this one reloads it now.
    statements.append("ANALYZE sqlite_schema;")
    return "\n".join(statements) + "\n"


def _rows(connection: sqlite3.Connection, table: str) -> list[str]:
    """Each row of `table` as `(columns) VALUES (literals)`, in a stable order."""
    columns = [row[1] for row in connection.execute(f"PRAGMA table_info({_quoted(table)})")]
    names = ", ".join(map(_quoted, columns))
    literals = " || ', ' || ".join(f"quote({_quoted(column)})" for column in columns)
    found = connection.execute(f"SELECT {literals} FROM {_quoted(table)} ORDER BY {names}").fetchall()
    return [f"({names}) VALUES ({values})" for (values,) in found]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def statements(script: str) -> list[str]:
    """The script's statements, one each (a trigger's body holds semicolons of its own)."""
    found: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if not pending and line.startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete statement at the end of the schema snapshot: {pending[:80]!r}")
    return found


def load(connection: sqlite3.Connection) -> None:
    """Run the snapshot on `connection`, inside the caller's transaction."""
    for statement in statements(SNAPSHOT.read_text(encoding="utf-8")):
        connection.execute(statement)


def _main() -> None:
    """Rewrite sqlite_head.sql from the migrations."""
    import tempfile

    from zcontacts.storage import migrate
    from zcontacts.storage.engine import make_engine

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine, replay=True)
        engine.dispose()
        with sqlite3.connect(path) as connection:
            SNAPSHOT.write_text(render(connection), encoding="utf-8")
        connection.close()
    sys.stdout.write(f"wrote {SNAPSHOT}\n")


if __name__ == "__main__":
    _main()
