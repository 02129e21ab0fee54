"""End-to-end tests talk to real server processes over sockets."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On a loaded machine an httpx connection may be garbage-collected after its test ended; that late
    ResourceWarning says nothing about the servers under test, so it is not an error here."""
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))
