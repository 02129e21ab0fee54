"""GET /metrics in Prometheus' text format: requests by route template, method and status, a latency
histogram by route template, and the database pool.

Counted by hand in plain dicts rather than with prometheus_client: recording a request is two dict updates
and one bisect on the event loop (no locks, no label objects), measured in the README's Operations section.
Routes are labelled by template (`/expense/v1/contacts/{contact_id}`), never by raw path, so the number of
series stays bounded whatever clients send; requests no route matched share the label `unmatched`.

Each server process counts its own requests. With `serve --workers N` the workers share one port, so a scrape
reaches any one of them: each worker writes its counts to a file of its own in a shared directory
(ZCONTACTS_METRICS_DIR, which `serve` makes) about once a second, and the worker that answers a scrape adds the
others' files to its own live counts. A worker that exits leaves its file, so the totals never go backwards
when uvicorn replaces it. The pool gauges are the answering worker's."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from bisect import bisect_left
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get
from sqlalchemy.pool import QueuePool

from zcontacts.storage.database import Database

log = logging.getLogger("zcontacts")

# Seconds; the last bucket (+Inf) is implicit.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"
# Litestar adds "; charset=utf-8" to every text/* type itself (given here too, it came twice).
CONTENT_TYPE = "text/plain; version=0.0.4"
# Of the database figures, those that only ever go up (since start): counters to Prometheus (rate() works).
_COUNTS = frozenset(("list_memo_hits", "list_memo_misses", "page_mark_drops"))
PUBLISH_SECONDS = 1.0  # how often a worker writes its counts for the others (a scrape sees them this late)
SNAPSHOT_SUFFIX = ".metrics.json"
# A route's histogram: a count per bucket (the last is +Inf), then the total seconds and the request count.
_SLOTS = len(BUCKETS) + 3


class _Snapshot(msgspec.Struct):
    """One process's counts, as its file in the shared directory holds them."""

    requests: list[tuple[str, str, int, int]]
    latency: dict[str, list[float]]


class Metrics:
    """This process's request counts and latencies; with `shared_dir`, the sum over every process writing
    there (see the module docstring)."""

    def __init__(self, shared_dir: str | os.PathLike[str] | None = None) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        # route → its histogram (_SLOTS)
        self.latency: dict[str, list[float]] = {}
        self.shared_dir = Path(shared_dir) if shared_dir else None
        self._published = -1.0  # requests counted when this process last wrote its file
        self._timer: asyncio.TimerHandle | None = None

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = [0.0] * _SLOTS
        histogram[bisect_left(BUCKETS, seconds)] += 1
        histogram[-2] += seconds
        histogram[-1] += 1

    # ---- sharing counts between the workers of one server ----------------------------------------------

    @property
    def _own_file(self) -> Path | None:
        return None if self.shared_dir is None else self.shared_dir / f"{os.getpid()}{SNAPSHOT_SUFFIX}"

    def start_publishing(self) -> None:
        """Write this process's counts every PUBLISH_SECONDS (on the running event loop), when shared."""
        if self.shared_dir is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(PUBLISH_SECONDS, self._tick)

    def _tick(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(PUBLISH_SECONDS, self._tick)
        self.publish()

    def stop_publishing(self) -> None:
        """Stop the timer and write the final counts."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.publish()

    def publish(self) -> None:
        """Write this process's counts to its file (atomically), if they changed since the last write."""
        target = self._own_file
        if target is None:
            return
        counted = sum(histogram[-1] for histogram in self.latency.values())
        if counted == self._published:
            return
        snapshot = _Snapshot(
            requests=[(route, method, status, n) for (route, method, status), n in self.requests.items()],
            latency=self.latency,
        )
        partial = target.with_name(target.name + ".tmp")
        try:
            partial.write_bytes(msgspec.json.encode(snapshot))
            os.replace(partial, target)
        except OSError:
            log.warning("could not write this worker's metrics to %s", target, exc_info=True)
            return
        self._published = counted

    def _totals(self) -> tuple[dict[tuple[str, str, int], int], dict[str, list[float]]]:
        """This process's live counts plus every other process's last file."""
        if self.shared_dir is None:
            return self.requests, self.latency
        requests = dict(self.requests)
        latency = {route: list(histogram) for route, histogram in self.latency.items()}
        own = self._own_file
        for path in self.shared_dir.glob(f"*{SNAPSHOT_SUFFIX}"):
            if path == own:
                continue
            try:
                snapshot = msgspec.json.decode(path.read_bytes(), type=_Snapshot)
            except (OSError, msgspec.DecodeError):  # vanished meanwhile, or not one of ours
                log.warning("skipping unreadable worker metrics file %s", path, exc_info=True)
                continue
            for route, method, status, count in snapshot.requests:
                requests[(route, method, status)] = requests.get((route, method, status), 0) + count
            for route, histogram in snapshot.latency.items():
                if len(histogram) != _SLOTS:
                    continue
                mine = latency.setdefault(route, [0.0] * _SLOTS)
                for position, value in enumerate(histogram):
                    mine[position] += value
        return requests, latency

    def render(self, database: Database | None = None) -> str:
        """The Prometheus text exposition of everything counted (and the pool, when given)."""
        requests, latency = self._totals()
        lines = [
            "# HELP http_requests_total HTTP requests by route template, method and status.",
            "# TYPE http_requests_total counter",
        ]
        for (route, method, status), count in sorted(requests.items()):
            labels = f'route="{_escape(route)}",method="{method}",status="{status}"'
            lines.append(f"http_requests_total{{{labels}}} {count}")
        lines += [
            "# HELP http_request_duration_seconds Time from request to the end of the response, by route.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for route, histogram in sorted(latency.items()):
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
        lines += [
            "# HELP zcontacts_gc_frozen_objects Objects alive at start-up that the garbage collector no longer"
            " walks (ZCONTACTS_GC_FREEZE).",
            "# TYPE zcontacts_gc_frozen_objects gauge",
            f"zcontacts_gc_frozen_objects {gc.get_freeze_count()}",
        ]
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
    if database.inline:
        memo = database.memo_stats()
        gauges += [
            (
                "list_memo_pages",
                "List pages kept until the next write (ZCONTACTS_SQLITE_PAGE_MEMO_MB).",
                memo.pages,
            ),
            ("list_memo_bytes", "Bytes of stored rows those pages hold.", memo.size),
            ("list_memo_hits", "List pages answered from the memo since start.", memo.hits),
            ("list_memo_misses", "List pages read from the database since start (memo on).", memo.misses),
        ]
    if database.marks is not None:
        gauges += [
            (
                "page_mark_listings",
                "Listings whose deep-page marks are kept across this process's writes.",
                database.marks.listings(),
            ),
            (
                "page_mark_drops",
                "Times kept deep-page marks were given up since start (another connection committed, or too "
                "many writes since the last deep page).",
                database.marks.drops,
            ),
        ]
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
            f"# TYPE zcontacts_{name} {'counter' if name in _COUNTS else 'gauge'}",
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
