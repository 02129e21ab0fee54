"""GET /metrics in Prometheus' text format: requests by route template, method and status, a latency
histogram by route template, and the database pool.

Counted by hand in plain dicts rather than with prometheus_client: recording a request is two dict updates
and one bisect on the event loop (no locks, no label objects), measured in the README's Operations section.
Routes are labelled by template (`/expense/v1/contacts/{contact_id}`), never by raw path, so the number of
series stays bounded whatever clients send; requests no route matched share the label `unmatched`.
Each server process counts its own requests (with `--workers N`, scrape each or sum per instance)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from litestar import Request, Response, get
from sqlalchemy.pool import QueuePool

from zcontacts.storage.database import Database

# Seconds; the last bucket (+Inf) is implicit.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """This process's request counts and latencies."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        # route → [count per bucket (the last is +Inf)..., total seconds, count]
        self.latency: dict[str, list[float]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = [0.0] * (len(BUCKETS) + 3)
        histogram[bisect_left(BUCKETS, seconds)] += 1
        histogram[-2] += seconds
        histogram[-1] += 1

    def render(self, database: Database | None = None) -> str:
        """The Prometheus text exposition of everything counted (and the pool, when given)."""
        lines = [
            "# HELP http_requests_total HTTP requests by route template, method and status.",
            "# TYPE http_requests_total counter",
        ]
        for (route, method, status), count in sorted(self.requests.items()):
            labels = f'route="{_escape(route)}",method="{method}",status="{status}"'
            lines.append(f"http_requests_total{{{labels}}} {count}")
        lines += [
            "# HELP http_request_duration_seconds Time from request to the end of the response, by route.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for route, histogram in sorted(self.latency.items()):
            label = f'route="{_escape(route)}"'
            cumulative = 0
            for bound, in_bucket in zip((*BUCKETS, None), histogram[: len(BUCKETS) + 1], strict=True):
                cumulative += int(in_bucket)
                le = "+Inf" if bound is None else repr(bound)
                lines.append(f'http_request_duration_seconds_bucket{{{label},le="{le}"}} {cumulative}')
            lines.append(f"http_request_duration_seconds_sum{{{label}}} {histogram[-2]!r}")
            lines.append(f"http_request_duration_seconds_count{{{label}}} {int(histogram[-1])}")
        if database is not None:
            lines += pool_lines(database)
        return "\n".join(lines) + "\n"


def pool_lines(database: Database) -> list[str]:
    """Gauges of the database's connection pool: size, checked out and overflow for PostgreSQL's queue pool;
    SQLite has no server connections to pool, so it reports its open connections (pool and readers)."""
    pool = database.engine.pool
    backend = database.engine.dialect.name
    gauges: list[tuple[str, str, float]] = []
    if isinstance(pool, QueuePool):
        gauges += [
            ("db_pool_size", "Connections the pool keeps open.", pool.size()),
            ("db_pool_checked_out", "Connections in use by requests now.", pool.checkedout()),
            ("db_pool_checked_in", "Idle connections in the pool.", pool.checkedin()),
            (
                "db_pool_overflow",
                "Connections open beyond the pool size (negative: not yet opened).",
                pool.overflow(),
            ),
            ("db_pool_max", "Most connections this process may hold.", pool.size() + pool._max_overflow),
        ]
    gauges.append(
        ("db_readers", "SQLite reader connections kept per thread for hot reads.", database.reader_count())
    )
    if database.compactor is not None:
        gauges.append(
            (
                "search_index_busy",
                "1 from a write seen (looked for every 0.5 s) until the trigram index is found complete and compact.",
                int(database.compactor.busy),
            )
        )
    lines: list[str] = []
    for name, help_text, value in gauges:
        lines += [
            f"# HELP zcontacts_{name} {help_text}",
            f"# TYPE zcontacts_{name} gauge",
            f'zcontacts_{name}{{backend="{backend}"}} {value}',
        ]
    return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[str]:
    """Prometheus scrape target: no token, like the health checks; it shows no customer data."""
    registry: Metrics = request.app.state.metrics
    database: Database = request.app.state.database
    return Response(registry.render(database), media_type=CONTENT_TYPE)
