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


def _upgrade_imports_alembic(database_url: str) -> bool:
    """Whether upgrading the database, in a new process, imported Alembic."""
    script = (
        "import sys; from zcontacts.storage import migrate; from zcontacts.storage.database import Database; "
        f"db = Database.from_url({database_url!r}); migrate.upgrade(db.engine); "
        "print(any(name == 'alembic' or name.startswith('alembic.') for name in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() in ("True", "False"), done.stderr
    return done.stdout.strip() == "True"


def test_at_head_upgrade_does_not_import_alembic(database_url: str) -> None:
    assert not _upgrade_imports_alembic(database_url)


def test_a_new_sqlite_database_is_made_without_importing_alembic(tmp_path: Path) -> None:
    """From the schema snapshot (tests/storage/test_schema_snapshot.py)."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert not _upgrade_imports_alembic(url)
    database = Database.from_url(url)
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    database.dispose()


def test_a_database_behind_head_is_still_upgraded(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(database.engine, "0001")
    assert migrate.current_revision(database.engine) == "0001"
    migrate.upgrade(database.engine)
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    database.dispose()
