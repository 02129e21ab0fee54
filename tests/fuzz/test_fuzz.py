"""A bounded schemathesis pass (a few hundred cases) against a real server: every operation of the OpenAPI
document with positive and negative data, and stateful scenarios along its links. 0 server errors and 0
responses that violate the document. scripts/fuzz runs the same harness for >= 10,000 cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Server
from tests.fuzz.harness import fuzz

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]
CASES = 400


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(database_url=f"sqlite:///{tmp_path / 'fuzz.db'}", workdir=tmp_path).start()
    yield running
    running.stop()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server: Server) -> None:
    organization_id, token = server.credentials()
    tally = fuzz(server.url, organization_id, token, cases=CASES)
    assert tally.cases >= CASES
    assert tally.stateful_steps > 0
    assert tally.server_errors == 0, tally.failures
    assert tally.schema_violations == 0, tally.failures
    assert tally.statuses[201] > 0  # some creates succeeded, so the links were followed
