"""Shared fixtures: a migrated database per test (copied from one migrated template), the ASGI app over
httpx, and small keyword factories for organizations, tokens and contacts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import Tenant, make_tenant
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage import migrate
from zcontacts.storage.database import Database


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test gets a copy (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database.from_url(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    database.dispose()
    return path


@pytest.fixture
def database_url(template_db: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database for this test."""
    target = tmp_path / "zcontacts.db"
    shutil.copyfile(template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """Direct access to the test's database (for setting up tenants)."""
    db = Database.from_url(database_url)
    yield db
    db.dispose()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient[Any]]:
    """The real ASGI app, driven over httpx."""
    app = create_app(Settings(database_url=database_url, token_cache_seconds=0))
    with TestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
def tenant(database: Database) -> Tenant:
    """An organization with a full-access token."""
    return make_tenant(database)
