"""Starting on a database already at head reads two small things and never imports Alembic (a third of a
cold start), nor does making a new SQLite database; anything else still goes through Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from zcontacts.storage import migrate
from zcontacts.storage.database import Database


def test_the_declared_head_is_alembics_head() -> None:
    assert migrate.declared_head() == migrate.head_revision()


def _imports_alembic(database_url: str, call: str) -> tuple[str, bool]:
    """What `call` on `migrate` with the database's engine returns, run in a new process, and whether that
    imported Alembic."""
    script = (
        "import sys; from zcontacts.storage import migrate; from zcontacts.storage.database import Database; "
        f"db = Database.from_url({database_url!r}); print(migrate.{call}(db.engine)); "
        "print(any(name == 'alembic' or name.startswith('alembic.') for name in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    returned, imported = done.stdout.split()
    return returned, imported == "True"


def test_at_head_upgrade_does_not_import_alembic(database_url: str) -> None:
    assert _imports_alembic(database_url, "upgrade") == ("None", False)


def test_a_new_sqlite_database_is_made_without_importing_alembic(tmp_path: Path) -> None:
    """From the schema snapshot (tests/storage/test_schema_snapshot.py)."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert _imports_alembic(url, "upgrade") == ("None", False)
    database = Database.from_url(url)
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    database.dispose()


def test_reading_the_revision_does_not_import_alembic(database_url: str) -> None:
    """/readyz reads it on every probe."""
    assert _imports_alembic(database_url, "current_revision") == (migrate.head_revision(), False)


def test_an_empty_database_has_no_revision(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    assert migrate.current_revision(database.engine) is None
    database.dispose()


def test_a_database_behind_head_is_still_upgraded(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(database.engine, "0001")
    assert migrate.current_revision(database.engine) == "0001"
    migrate.upgrade(database.engine)
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    database.dispose()
