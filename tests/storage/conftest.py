"""Fixtures of the storage tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from zcontacts.app import create_app
from zcontacts.config import Settings


@pytest.fixture
def quiet_client(database_url: str) -> Iterator[TestClient[Any]]:
    """The app without its own search index compactor: the trigram queue moves only with the writes, and a
    test runs the compactor it made itself."""
    settings = Settings(
        database_url=database_url,
        token_cache_seconds=0,
        rate_limit_per_minute=0,
        auto_migrate=False,
        compact_search_index=False,
    )
    with TestClient(app=create_app(settings)) as test_client:
        yield test_client
