"""GET /metrics under `serve --workers 2`: the workers share one port, so a scrape reaches either; each answers
for the whole server (api/metrics.py), and the directory they share goes when the server stops."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.api.test_metrics import sample
from tests.e2e.server import Server, headers
from zcontacts.api.metrics import PUBLISH_SECONDS, SNAPSHOT_SUFFIX

pytestmark = pytest.mark.e2e
ROUTE = "/expense/v1/contacts"
REQUESTS = 40


def _counted(text: str) -> float | None:
    return sample(text, "http_requests_total", route=ROUTE, method="GET", status="200")


def _per_worker(shared: Path) -> list[int]:
    """Each worker's file's count of the route's requests."""
    return [
        sum(n for route, _, _, n in msgspec.json.decode(path.read_bytes())["requests"] if route == ROUTE)
        for path in shared.glob(f"*{SNAPSHOT_SUFFIX}")
    ]


def test_every_worker_reports_the_whole_servers_requests(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = Server(database_url=f"sqlite:///{tmp_path / 'metrics.db'}", workdir=tmp_path)
    server.env = {"TMPDIR": str(temp)}  # where serve makes the shared directory
    server.start("--workers", "2")
    try:
        auth = headers(*server.credentials())
        for _ in range(REQUESTS):  # a new connection each time, so both workers take some
            with httpx.Client() as client:
                assert client.get(server.url + ROUTE, headers=auth).status_code == 200
        (shared,) = temp.glob("zcontacts-metrics-*")
        # Each worker writes its file about every PUBLISH_SECONDS: wait for both to have written it all.
        deadline = time.monotonic() + PUBLISH_SECONDS * 10
        per_worker = _per_worker(shared)
        while (len(per_worker) != 2 or sum(per_worker) != REQUESTS) and time.monotonic() < deadline:
            time.sleep(PUBLISH_SECONDS / 4)
            per_worker = _per_worker(shared)
        assert len(per_worker) == 2  # one file per worker
        assert sum(per_worker) == REQUESTS
        for _ in range(8):
            with httpx.Client() as client:
                assert _counted(client.get(server.url + "/metrics").text) == REQUESTS
    finally:
        server.stop()
    assert not list(temp.glob("zcontacts-metrics-*"))  # removed with the server
