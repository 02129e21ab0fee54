"""Migrations in production: `db upgrade` and `db current` on each backend, servers that refuse to start on a
database migrated by a newer zcontacts (its revision is unknown to this code), and `serve` with
ZCONTACTS_AUTO_MIGRATE=false, which changes nothing and is ready once the schema is at head."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from tests.e2e.server import Server, free_port, zcontacts
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage import migrate
from zcontacts.storage.database import Database
from zcontacts.storage.organizations import OrganizationsRepo

pytestmark = pytest.mark.e2e
FUTURE = "9999_from_the_future"


def _stamp(database_url: str, revision: str) -> None:
    database = Database.from_url(database_url)
    database.run(
        lambda c: c.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision}), write=True
    )
    database.dispose()


def test_db_upgrade_and_current_from_an_empty_database(database_url: str) -> None:
    database = Database.from_url(database_url)
    migrate.downgrade(database.engine, "base")
    assert migrate.current_revision(database.engine) is None
    upgraded = zcontacts("db", "upgrade", database_url=database_url)
    assert upgraded.stdout.strip() == migrate.head_revision()
    assert zcontacts("db", "current", database_url=database_url).stdout.strip() == migrate.head_revision()
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    database.dispose()


@pytest.mark.parametrize("auto_migrate", ["true", "false"])
def test_serve_refuses_a_newer_database(database_url: str, tmp_path: Path, auto_migrate: str) -> None:
    _stamp(database_url, FUTURE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zcontacts",
            "serve",
            "--port",
            str(free_port()),
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "ZCONTACTS_AUTO_MIGRATE": auto_migrate},
    )
    assert result.returncode == 2
    assert FUTURE in result.stderr
    assert "unknown to this zcontacts" in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stdout
    # (Every other command opens the database the same way, so refuses alike.) `db current` still tells what
    # the database is at.
    current = zcontacts("db", "current", database_url=database_url)
    assert current.stdout.strip() == FUTURE
    assert "newer" in current.stderr


def test_serve_without_auto_migrate_changes_nothing_and_is_ready_once_upgraded(
    database_url: str, tmp_path: Path
) -> None:
    # A replica that must never migrate (README, docs/SCALING.md), started before `db upgrade` has run.
    database = Database.from_url(database_url)
    migrate.downgrade(database.engine, "base")
    server = Server(database_url=database_url, workdir=tmp_path, env={"ZCONTACTS_AUTO_MIGRATE": "false"})
    fixtures = tmp_path / "customers.csv"
    fixtures.write_text("contact_name\nAcme\n")
    try:
        with pytest.raises(RuntimeError, match="no organization to load them into"):
            server.start("--fixtures", str(fixtures))
        server.start()
        assert "at revision none, this server needs" in server.banner
        assert "not migrating (ZCONTACTS_AUTO_MIGRATE=false)" in server.banner
        assert "organization id" not in server.banner
        assert migrate.current_revision(database.engine) is None
        not_ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert (not_ready.status_code, not_ready.json()["code"]) == (503, 1000)
        assert "run `zcontacts db upgrade`" in not_ready.json()["message"]

        zcontacts("db", "upgrade", database_url=database_url)
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        server.stop()
        # At head with no organization, it still creates none: an operator makes one with the CLI.
        server.start()
        assert "none created (ZCONTACTS_AUTO_MIGRATE=false)" in server.banner
        assert "schema:" not in server.banner
        assert database.run(lambda c: OrganizationsRepo(c).all(), write=False) == []
    finally:
        server.stop()
        database.dispose()


def test_an_app_worker_refuses_a_newer_database_at_startup(database_url: str) -> None:
    _stamp(database_url, FUTURE)
    app = create_app(Settings(database_url=database_url, auto_migrate=False))
    # The test client's task group wraps what the lifespan raised.
    with pytest.raises(ExceptionGroup) as raised, TestClient(app=app):
        pass
    assert raised.group_contains(migrate.UnknownRevision, match=FUTURE, depth=None)


@pytest.mark.backends("sqlite")  # the start-up check is the one above, whatever the backend
def test_a_worker_started_by_uvicorn_exits_non_zero(database_url: str, tmp_path: Path) -> None:
    # What a replica started directly by uvicorn (or by `serve --workers N`) does.
    _stamp(database_url, FUTURE)
    command = [sys.executable, "-m", "uvicorn", "--factory", "zcontacts.app:create_app_from_env",
               "--port", str(free_port())]  # fmt: skip
    env = {"ZCONTACTS_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert FUTURE in result.stderr
    assert "Application startup failed" in result.stderr
