"""GET /metrics: Prometheus text with requests by route template, a latency histogram and pool gauges."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.api import metrics as metrics_module
from zcontacts.api.metrics import BUCKETS, SNAPSHOT_SUFFIX, Metrics


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in an exposition (None when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        assert match, line
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if match.group(1) == name and found == labels:
            return float(match.group(3))
    return None


def test_requests_are_counted_by_route_template_method_and_status(client: Any, tenant: Tenant) -> None:
    first = make_contact(client, tenant, contact_name="One")
    second = make_contact(client, tenant, contact_name="Two")
    for contact_id in (first["contact_id"], second["contact_id"], "123"):
        client.get(f"{CONTACTS}/{contact_id}", headers=tenant.headers)
    client.get("/no/such/path")
    text = client.get("/metrics").text
    template = "/expense/v1/contacts/{contact_id}"
    assert sample(text, "http_requests_total", route=template, method="GET", status="200") == 2
    assert sample(text, "http_requests_total", route=template, method="GET", status="404") == 1
    assert sample(text, "http_requests_total", route="/expense/v1/contacts", method="POST", status="201") == 2
    assert sample(text, "http_requests_total", route="unmatched", method="GET", status="404") == 1
    # Raw paths never become labels.
    assert first["contact_id"] not in text
    assert "/no/such/path" not in text


def test_books_requests_are_counted_under_books_routes(client: Any, tenant: Tenant) -> None:
    # The organization in the query string (as Books clients send it): the framework serves these, routing
    # /books/v3 as its /expense/v1 twin; the label is still the Books route.
    query = {"organization_id": tenant.organization_id}
    auth = {"Authorization": tenant.headers["Authorization"]}
    created = client.post("/books/v3/contacts", params=query, json={"contact_name": "Booked"}, headers=auth)
    assert created.json()["message"] == "The contact has been created"
    contact_id = created.json()["contact"]["contact_id"]
    client.get(f"/books/v3/contacts/{contact_id}/contactpersons", params=query, headers=auth)
    client.get("/books/v3/nothing", params=query, headers=auth)
    text = client.get("/metrics").text
    assert sample(text, "http_requests_total", route="/books/v3/contacts", method="POST", status="201") == 1
    persons = "/books/v3/contacts/{contact_id}/contactpersons"
    assert sample(text, "http_requests_total", route=persons, method="GET", status="200") == 1
    assert sample(text, "http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert "/expense/v1" not in text


def test_latency_histogram_is_cumulative_and_counts_every_request(client: Any, tenant: Tenant) -> None:
    for _ in range(3):
        client.get(CONTACTS, headers=tenant.headers)
    text = client.get("/metrics").text
    route = "/expense/v1/contacts"
    counts = [
        sample(text, "http_request_duration_seconds_bucket", route=route, le=le)
        for le in [*(repr(b) for b in BUCKETS), "+Inf"]
    ]
    assert all(c is not None for c in counts)
    assert counts == sorted(counts)  # type: ignore[type-var]
    assert counts[-1] == 3
    assert sample(text, "http_request_duration_seconds_count", route=route) == 3
    total = sample(text, "http_request_duration_seconds_sum", route=route)
    assert total is not None
    assert total > 0


def test_pool_gauges_and_content_type(client: Any) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    backend = "sqlite" if 'backend="sqlite"' in response.text else "postgresql"
    assert sample(response.text, "zcontacts_db_pool_size", backend=backend) is not None
    checked_out = sample(response.text, "zcontacts_db_pool_checked_out", backend=backend)
    assert checked_out is not None
    assert checked_out >= 0
    assert "# TYPE http_request_duration_seconds histogram" in response.text


def test_bucket_edges_and_label_escaping() -> None:
    metrics = Metrics()
    metrics.observe('/a"b\\c', "GET", 200, BUCKETS[0])  # on the edge: counted in that bucket (le)
    metrics.observe('/a"b\\c', "GET", 200, 99.0)  # beyond the last bound: only +Inf
    text = metrics.render()
    route = '/a\\"b\\\\c'
    assert f'http_requests_total{{route="{route}",method="GET",status="200"}} 2' in text
    assert f'http_request_duration_seconds_bucket{{route="{route}",le="{BUCKETS[0]!r}"}} 1' in text
    assert f'http_request_duration_seconds_bucket{{route="{route}",le="{BUCKETS[-1]!r}"}} 1' in text
    assert f'http_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} 2' in text


def _as_worker(monkeypatch: pytest.MonkeyPatch, pid: int, metrics: Metrics) -> None:
    """Publish `metrics` as the process `pid` would."""
    with monkeypatch.context() as patch:
        patch.setattr(os, "getpid", lambda: pid)
        metrics.publish()


def test_workers_sharing_a_directory_each_report_the_sum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Metrics(tmp_path)
    other.observe("/r", "GET", 200, 0.0004)
    other.observe("/r", "GET", 404, 0.3)
    other.observe("/s", "POST", 201, 0.002)
    _as_worker(monkeypatch, 1, other)
    mine = Metrics(tmp_path)
    mine.observe("/r", "GET", 200, 0.002)
    mine.publish()  # its own file is never added to its live counts
    for text in (mine.render(), mine.render()):
        assert sample(text, "http_requests_total", route="/r", method="GET", status="200") == 2
        assert sample(text, "http_requests_total", route="/r", method="GET", status="404") == 1
        assert sample(text, "http_requests_total", route="/s", method="POST", status="201") == 1
        assert sample(text, "http_request_duration_seconds_count", route="/r") == 3
        assert sample(text, "http_request_duration_seconds_bucket", route="/r", le="0.0005") == 1
        assert sample(text, "http_request_duration_seconds_bucket", route="/r", le="0.0025") == 2
        assert sample(text, "http_request_duration_seconds_bucket", route="/r", le="+Inf") == 3
        assert sample(text, "http_request_duration_seconds_sum", route="/r") == pytest.approx(0.3024)
    # A request counted live shows at once; the other worker's show once it has written them.
    mine.observe("/r", "GET", 200, 0.001)
    other.observe("/r", "GET", 200, 0.001)
    assert sample(mine.render(), "http_requests_total", route="/r", method="GET", status="200") == 3
    _as_worker(monkeypatch, 1, other)
    assert sample(mine.render(), "http_requests_total", route="/r", method="GET", status="200") == 4
    # Unshared, a process reports its own counts only.
    assert sample(Metrics().render(), "http_requests_total", route="/r", method="GET", status="200") is None


def test_a_worker_writes_its_file_only_when_its_counts_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = Metrics(tmp_path)
    metrics.observe("/r", "GET", 200, 0.001)
    metrics.publish()
    (written,) = tmp_path.glob(f"*{SNAPSHOT_SUFFIX}")
    written.write_bytes(b"sentinel")  # so a needless rewrite would show
    metrics.publish()
    assert written.read_bytes() == b"sentinel"
    metrics.observe("/r", "GET", 200, 0.001)
    metrics.publish()
    assert written.read_bytes() != b"sentinel"
    assert [p.name for p in tmp_path.iterdir()] == [written.name]  # no temporary file left behind


def test_an_unreadable_worker_file_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / f"99{SNAPSHOT_SUFFIX}").write_bytes(b"{not json")
    other = Metrics(tmp_path)
    other.observe("/r", "GET", 200, 0.001)
    _as_worker(monkeypatch, 1, other)
    mine = Metrics(tmp_path)
    with caplog.at_level(logging.WARNING, logger="zcontacts"):
        text = mine.render()
    assert sample(text, "http_requests_total", route="/r", method="GET", status="200") == 1
    assert "unreadable worker metrics file" in caplog.text


def test_publishing_runs_on_the_event_loop_and_writes_the_last_counts_at_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_module, "PUBLISH_SECONDS", 0.01)
    metrics = Metrics(tmp_path)

    async def main() -> None:
        metrics.start_publishing()
        metrics.observe("/r", "GET", 200, 0.001)
        await asyncio.sleep(0.1)
        assert list(tmp_path.glob(f"*{SNAPSHOT_SUFFIX}"))  # written by the timer
        metrics.observe("/r", "GET", 200, 0.001)
        metrics.stop_publishing()

    asyncio.run(main())
    (written,) = tmp_path.glob(f"*{SNAPSHOT_SUFFIX}")
    reader = Metrics(tmp_path)  # reads it as another worker would (same pid here: rename it)
    written.rename(tmp_path / f"1{SNAPSHOT_SUFFIX}")
    assert sample(reader.render(), "http_requests_total", route="/r", method="GET", status="200") == 2
