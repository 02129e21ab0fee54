"""GET /metrics: Prometheus text with requests by route template, a latency histogram and pool gauges."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.api.metrics import BUCKETS, Metrics


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
