"""GET /metrics under `serve --workers 2`: the workers share one port, so a scrape reaches either; each answers
for the whole server (api/metrics.py), and the directory they share goes when the server stops."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.api.test_metrics import sample
from tests.e2e.server import Server, free_port, headers
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


def test_a_configured_directory_is_emptied_of_an_earlier_runs_counts(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    stale = shared / f"123{SNAPSHOT_SUFFIX}"
    stale.write_bytes(msgspec.json.encode({"requests": [[ROUTE, "GET", 200, 1000]], "latency": {}}))
    server = Server(database_url=f"sqlite:///{tmp_path / 'metrics.db'}", workdir=tmp_path)
    server.env = {"ZCONTACTS_METRICS_DIR": str(shared)}
    server.start("--workers", "2")
    try:
        assert not stale.exists()
        auth = headers(*server.credentials())
        with httpx.Client() as client:
            assert client.get(server.url + ROUTE, headers=auth).status_code == 200
            # 1 once the worker that served it is counted (within a second), never the old run's 1,000.
            assert (_counted(client.get(server.url + "/metrics").text) or 0) <= 1
    finally:
        server.stop()
    assert shared.is_dir()  # a directory the user named stays


def test_an_unusable_directory_stops_serve_with_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "zcontacts", "serve", "--workers", "2", "--port", str(free_port()),
         "--database-url", f"sqlite:///{tmp_path / 'metrics.db'}"],
        env={**os.environ, "ZCONTACTS_METRICS_DIR": str(blocker / "sub")},
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot use ZCONTACTS_METRICS_DIR" in done.stderr
