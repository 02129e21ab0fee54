"""Shared fixtures: a migrated database per test (copied from one migrated template), the ASGI app over
httpx, and small keyword factories for organizations, tokens and contacts.

Every test that uses a database runs once per backend: SQLite always, PostgreSQL when a server answers at
ZCONTACTS_TEST_POSTGRES_URL (otherwise those copies are skipped, saying why). A module or test marked
`@pytest.mark.backends("sqlite")` runs on the named backends only."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from litestar.testing import TestClient

from tests.backends import REDIS_URL, PostgresDatabases, postgres_unreachable, redis_unreachable
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


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that touches a database on each backend (or on those its `backends` mark names)."""
    if "database_url" in metafunc.fixturenames:
        mark = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("database_url", mark.args if mark else BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    """The PostgreSQL server's database factory; skips the test when no server answers."""
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    databases = PostgresDatabases().start()
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a reachable Redis server; skips the test when none answers."""
    reason = redis_unreachable()
    if reason:
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test, on the backend of the test's parameter."""
    if request.param == "sqlite":
        target = tmp_path / "zcontacts.db"
        shutil.copyfile(request.getfixturevalue("template_db"), target)
        yield f"sqlite:///{target}"
        return
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    url = postgres.fresh()
    yield url
    postgres.release(url)


@pytest.fixture(autouse=True)
def _fewer_examples_on_postgresql(request: pytest.FixtureRequest) -> Iterator[None]:
    """Property tests try half their examples on PostgreSQL: each example is a few network round trips, and
    the SQLite copy of the test still tries them all. (Hypothesis reads a test's settings when it runs.)"""
    test = request.function
    chosen = getattr(test, "_hypothesis_internal_use_settings", None)
    callspec = getattr(request.node, "callspec", None)
    if chosen is None or callspec is None or callspec.params.get("database_url") != "postgresql":
        yield
        return
    test._hypothesis_internal_use_settings = hypothesis.settings(
        chosen, max_examples=chosen.max_examples // 2
    )
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = chosen


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """Direct access to the test's database (for setting up tenants)."""
    db = Database.from_url(database_url)
    yield db
    db.dispose()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient[Any]]:
    """The real ASGI app, driven over httpx."""
    # The rate limit is off: tests make many requests per organization (tests/api/test_ratelimit.py turns it on).
    # Nor does it migrate: the database is a copy of a migrated one (e2e tests cover migrating at start-up).
    settings = Settings(
        database_url=database_url, token_cache_seconds=0, rate_limit_per_minute=0, auto_migrate=False
    )
    app = create_app(settings)
    with TestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
def tenant(database: Database) -> Tenant:
    """An organization with a full-access token."""
    return make_tenant(database)
