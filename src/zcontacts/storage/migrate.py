"""Alembic, driven from code: `serve` (unless ZCONTACTS_AUTO_MIGRATE=false) and the CLI upgrade the schema
before they touch it, and refuse a database whose revision this code does not know (it was migrated by a newer
zcontacts: running old code on it could write rows the newer schema forbids).

Importing Alembic costs about a third of a second, a third of a server's cold start, and almost every start
finds the database already at head. So the version files' own `revision`/`down_revision` lines are read as text,
and Alembic is imported only when there is something to do, or when the files cannot be read unambiguously
(then Alembic decides, as before)."""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DatabaseError

from zcontacts.storage.engine import SQLITE_WRITE, is_sqlite

if TYPE_CHECKING:
    from alembic.config import Config

_SCRIPTS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^revision(?:: [^=]+)? = ['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = (.+)$", re.MULTILINE)


class UnknownRevision(RuntimeError):
    """The database is at a schema revision this code does not know."""

    def __init__(self, revision: str, head: str | None) -> None:
        self.revision = revision
        super().__init__(
            f"the database's schema revision {revision!r} is unknown to this zcontacts (its newest is {head!r}): "
            "a newer zcontacts migrated it. Run that version (or newer), or point this one at another database."
        )


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config for zcontacts' migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


@lru_cache(maxsize=1)
def _declared() -> tuple[frozenset[str], str] | None:
    """(every revision, the single head) read from the version files' text; None when not certain (a file
    without a readable revision, several heads), so callers ask Alembic instead."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_SCRIPTS / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        return None
    return frozenset(revisions), heads.pop()


def declared_head() -> str | None:
    """The single head of the version files, read without Alembic (None when not certain)."""
    declared = _declared()
    return None if declared is None else declared[1]


def head_revision() -> str | None:
    """The newest revision this code knows."""
    declared = _declared()
    if declared is not None:
        return declared[1]
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    """Every revision this code knows."""
    declared = _declared()
    if declared is not None:
        return set(declared[0])
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with engine.connect() as connection:
        return revision_of(connection)


def revision_of(connection: Connection) -> str | None:
    """The revision recorded in the database of `connection` (None before the first migration), read without
    importing Alembic: /readyz asks on every probe, and the import cost the first probe ~0.2 s. (Several rows
    would mean several heads, which this code never makes: all are named.)"""
    return ",".join(sorted(_versions(connection) or ())) or None


def _versions(connection: Connection) -> set[str] | None:
    """The versions in the database's alembic_version table (None when there is no such table)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return {str(row[0]) for row in connection.execute(text("SELECT version_num FROM alembic_version"))}


def _stored_revisions(engine: Engine) -> set[str] | None:
    """`_versions` on a connection of its own (None too when the file is no database)."""
    try:
        with engine.connect() as connection:
            return _versions(connection)
    except DatabaseError:
        return None


def check_known(engine: Engine) -> str | None:
    """The database's revision; raises UnknownRevision when this code does not know it."""
    stored = _stored_revisions(engine) or set()
    unknown = stored - known_revisions()
    if unknown:
        raise UnknownRevision(sorted(unknown)[0], head_revision())
    return next(iter(stored), None)


def upgrade(engine: Engine, revision: str = "head", *, replay: bool = False) -> None:
    """Bring the database to `revision` in one transaction (UnknownRevision when it is past this code;
    nothing to do, and no Alembic, when it is at head). A SQLite database with no schema yet is made from the
    snapshot of head (schema_snapshot.py) unless `replay` asks for every migration to run."""
    check_known(engine)
    if revision == "head" and (head := declared_head()) is not None:
        stored = _stored_revisions(engine)
        if stored is None and not replay and is_sqlite(engine):  # never migrated: perhaps a new file
            _load_snapshot_if_empty(engine)
            stored = _stored_revisions(engine)
        if stored == {head}:
            return
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _load_snapshot_if_empty(engine: Engine) -> None:
    """Load the schema snapshot into a database that has no schema at all; the check and the load hold the
    write lock together, so of two processes starting on one new file only the first loads it. (A snapshot
    older than the migrations leaves the database behind head, and Alembic takes it the rest of the way.)"""
    from zcontacts.storage import schema_snapshot

    with engine.connect().execution_options(**{SQLITE_WRITE: True}) as connection, connection.begin():
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)  # is_sqlite: the standard library's driver
        if driver.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] == 0:
            schema_snapshot.load(driver)


def downgrade(engine: Engine, revision: str) -> None:
    """Step the database back to `revision` ("base" empties it)."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
