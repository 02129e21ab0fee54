"""Alembic, driven from code: `serve` and the CLI upgrade the schema before they touch it, and refuse a
database whose revision this code does not know (it was migrated by a newer zcontacts: running old code on
it could write rows the newer schema forbids)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

_SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config for zcontacts' migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


class UnknownRevision(RuntimeError):
    """The database is at a schema revision this code does not know."""

    def __init__(self, revision: str, head: str | None) -> None:
        self.revision = revision
        super().__init__(
            f"the database's schema revision {revision!r} is unknown to this zcontacts (its newest is {head!r}): "
            "a newer zcontacts migrated it. Run that version (or newer), or point this one at another database."
        )


@cache
def _scripts() -> ScriptDirectory:
    # The migration files ship with the code: read them once per process.
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    """The newest revision this code knows."""
    return _scripts().get_current_head()


def known_revisions() -> set[str]:
    """Every revision this code knows."""
    return {script.revision for script in _scripts().walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with engine.connect() as connection:
        return revision_of(connection)


def revision_of(connection: Connection) -> str | None:
    """The revision recorded in the database of `connection` (None before the first migration)."""
    return MigrationContext.configure(connection).get_current_revision()


def check_known(engine: Engine) -> str | None:
    """The database's revision; raises UnknownRevision when this code does not know it."""
    revision = current_revision(engine)
    if revision is not None and revision not in known_revisions():
        raise UnknownRevision(revision, head_revision())
    return revision


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` in one transaction (UnknownRevision when it is past this code)."""
    check_known(engine)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Step the database back to `revision` ("base" empties it)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
