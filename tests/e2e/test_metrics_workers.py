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
        time.sleep(PUBLISH_SECONDS * 2.5)
        (shared,) = temp.glob("zcontacts-metrics-*")
        files = list(shared.glob(f"*{SNAPSHOT_SUFFIX}"))
        assert len(files) == 2  # one per worker
        per_worker = [
            sum(
                n
                for route, method, status, n in msgspec.json.decode(f.read_bytes())["requests"]
                if route == ROUTE
            )
            for f in files
        ]
        assert sum(per_worker) == REQUESTS
        for _ in range(8):
            with httpx.Client() as client:
                assert _counted(client.get(server.url + "/metrics").text) == REQUESTS
    finally:
        server.stop()
    assert not list(temp.glob("zcontacts-metrics-*"))  # removed with the server
