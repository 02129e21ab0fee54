"""A new SQLite database is made from the snapshot of head (storage/sqlite_head.sql) instead of by every
migration: the snapshot must be exactly what the migrations build, and the database it makes exactly the one
they make."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from zcontacts.storage import migrate, schema_snapshot
from zcontacts.storage.engine import make_engine

REGENERATE = "python -m zcontacts.storage.schema_snapshot"


def _migrated(path: Path, revision: str = "head", *, replay: bool) -> Path:
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, revision, replay=replay)
    engine.dispose()
    return path


def _contents(path: Path) -> dict[str, Any]:
    """Everything a database holds that the schema decides: its schema objects in creation order, every row of
    every table (FTS5's shadow tables and the planner statistics included) and its header fields."""
    with sqlite3.connect(path) as connection:
        objects = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid"
        ).fetchall()
        rows = {
            name: sorted(map(repr, connection.execute(f'SELECT * FROM "{name}"').fetchall()))
            for kind, name, _, sql in objects
            if kind == "table" and not (sql or "").upper().startswith("CREATE VIRTUAL")
        }
        header = {
            pragma: connection.execute(f"PRAGMA {pragma}").fetchone()[0]
            for pragma in ("user_version", "application_id", "journal_mode", "page_size", "encoding")
        }
    connection.close()
    return {"objects": objects, "rows": rows, "header": header}


def test_the_snapshot_is_what_the_migrations_build(tmp_path: Path) -> None:
    path = _migrated(tmp_path / "replayed.db", replay=True)
    with sqlite3.connect(path) as connection:
        rendered = schema_snapshot.render(connection)
    connection.close()
    assert rendered == schema_snapshot.SNAPSHOT.read_text(encoding="utf-8"), (
        f"storage/sqlite_head.sql is not what the migrations build: run `{REGENERATE}`"
    )
    assert f"VALUES ('{migrate.head_revision()}');" in rendered


def test_a_database_made_from_the_snapshot_equals_a_migrated_one(tmp_path: Path) -> None:
    loaded = _migrated(tmp_path / "loaded.db", replay=False)
    replayed = _migrated(tmp_path / "replayed.db", replay=True)
    assert _contents(loaded) == _contents(replayed)
    with sqlite3.connect(loaded) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        connection.execute("INSERT INTO contacts_fts(contacts_fts) VALUES ('integrity-check')")
    connection.close()


def test_a_database_with_any_schema_is_migrated_not_loaded_over(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
        connection.execute("INSERT INTO notes VALUES ('kept')")
    connection.close()
    _migrated(path, replay=False)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT body FROM notes").fetchall() == [("kept",)]
    connection.close()
    contents = _contents(path)
    replayed = _contents(_migrated(tmp_path / "replayed.db", replay=True))
    assert contents["rows"]["alembic_version"] == replayed["rows"]["alembic_version"]


def test_a_snapshot_behind_the_migrations_is_finished_by_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the file older than the newest migration, a new database would still end at head, as migrated."""
    older = _migrated(tmp_path / "older.db", "0007", replay=True)
    with sqlite3.connect(older) as connection:
        stale = tmp_path / "stale.sql"
        stale.write_text(schema_snapshot.render(connection), encoding="utf-8")
    connection.close()
    monkeypatch.setattr(schema_snapshot, "SNAPSHOT", stale)
    loaded = _migrated(tmp_path / "loaded.db", replay=False)
    assert migrate.current_revision(make_engine(f"sqlite:///{loaded}")) == migrate.head_revision()
    assert _contents(loaded)["rows"] == _contents(_migrated(tmp_path / "replayed.db", replay=True))["rows"]


def test_two_processes_starting_on_one_new_file_make_one_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    script = (
        "from zcontacts.storage import migrate; from zcontacts.storage.engine import make_engine; "
        f"migrate.upgrade(make_engine({url!r}))"
    )
    starts = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE) for _ in range(3)]
    for start in starts:
        _, errors = start.communicate(timeout=60)
        assert start.returncode == 0, errors.decode()
    replayed = _migrated(tmp_path / "replayed.db", replay=True)
    assert _contents(tmp_path / "shared.db") == _contents(replayed)


def test_statements_keep_a_trigger_whole() -> None:
    script = (
        "-- a comment\nCREATE TABLE t (a);\nCREATE TRIGGER r AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;\n"
        "INSERT INTO t VALUES ('a;b');\n"
    )
    assert schema_snapshot.statements(script) == [
        "CREATE TABLE t (a);",
        "CREATE TRIGGER r AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;",
        "INSERT INTO t VALUES ('a;b');",
    ]
    with pytest.raises(ValueError, match="incomplete statement"):
        schema_snapshot.statements("CREATE TABLE t (a)")


def test_a_start_on_a_migrated_database_takes_no_write_lock(tmp_path: Path) -> None:
    """Only a never-migrated file is checked for emptiness under the write lock: a CLI command or a server
    starting while another process writes must not wait for it."""
    path = _migrated(tmp_path / "busy.db", replay=False)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        engine = make_engine(f"sqlite:///{path}")
        started = time.monotonic()
        migrate.upgrade(engine)
        assert time.monotonic() - started < 2  # the busy timeout is 5 s
        engine.dispose()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
