"""Figures into tables: requests/s and latency per cell, each peer as a ratio to zcontacts, and the issue's
targets checked one by one. Pure functions over measured cells (unit-tested), plus rich rendering."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.table import Table

from bench.workloads import LIST_WORKLOADS, WORKLOADS

# zcontacts is started this many times per dataset, each a new process, and the median is its cold start: one
# start on a 2-core machine moved from 0.6 to 3.0 s while other processes (npm installs, a load) were busy.
COLD_STARTS = 3

ZC = "zcontacts"
# The raw ASGI limit, the same limit under bare Starlette (the issue allows either; both are measured), the peers.
PEERS = ("limit", "starlette", "json-server", "prism")
TARGET_ORDER = (ZC, *PEERS)


@dataclass(frozen=True)
class Cell:
    """One measured (dataset, workload, connections, target)."""

    size: int
    workload: str
    connections: int
    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    bad_status: int = 0
    socket_errors: int = 0
    note: str = ""


@dataclass(frozen=True)
class Check:
    """One target of the issue and whether this run met it (None: not measured)."""

    name: str
    met: bool | None
    detail: str


Key = tuple[int, str, int]


def by_key(cells: Iterable[Cell]) -> dict[Key, dict[str, Cell]]:
    """Cells grouped by (size, workload, connections), then by target."""
    grouped: dict[Key, dict[str, Cell]] = {}
    for cell in cells:
        grouped.setdefault((cell.size, cell.workload, cell.connections), {})[cell.target] = cell
    return grouped


def ratio(zcontacts: Cell | None, peer: Cell | None) -> float | None:
    """zcontacts' throughput divided by the peer's (None when either is missing or the peer did nothing)."""
    if zcontacts is None or peer is None or peer.rps <= 0:
        return None
    return zcontacts.rps / peer.rps


def _worst(ratios: list[tuple[float | None, str]]) -> tuple[float, str] | None:
    known = [(r, where) for r, where in ratios if r is not None]
    return min(known) if known else None


def _where(key: Key) -> str:
    size, workload, connections = key
    return f"{workload} c{connections} n={size:,}"


def check_targets(
    cells: list[Cell],
    *,
    cold_start_s: float | None,
    peak_rss_mb: float | None,
    list_limit_ms: float = 20.0,
    search_pages: Sequence[tuple[str, float]] = (),
) -> list[Check]:
    """The issue's targets, evaluated on every cell they apply to (the worst cell decides). `search_pages`:
    (listing, ms in process) of search pages over 1,000,000 customers that no cell measures (bench/search_plans.py),
    which "any list page" counts too."""
    grouped = by_key(cells)
    checks: list[Check] = []

    def ratio_check(name: str, peer: str, floor: float, workloads: tuple[str, ...]) -> None:
        found = _worst(
            [
                (ratio(targets.get(ZC), targets.get(peer)), _where(key))
                for key, targets in grouped.items()
                if key[1] in workloads and peer in targets and ZC in targets
            ]
        )
        if found is None:
            checks.append(Check(name, None, f"{peer} not measured"))
        else:
            worst, where = found
            checks.append(Check(name, worst >= floor, f"worst {worst:.2f}× ({where})"))

    ratio_check("zcontacts ≥ 3× json-server on every workload", "json-server", 3.0, WORKLOADS)
    ratio_check("zcontacts ≥ Prism on every workload", "prism", 1.0, WORKLOADS)
    ratio_check("zcontacts ≥ 60% of the limit on get and list", "limit", 0.6, ("get", *LIST_WORKLOADS))
    ratio_check(
        "zcontacts ≥ 60% of the limit under bare Starlette on get and list",
        "starlette",
        0.6,
        ("get", *LIST_WORKLOADS),
    )

    at_64 = [targets[ZC] for key, targets in grouped.items() if key[2] == 64 and ZC in targets]
    if at_64:
        worst = max(at_64, key=lambda c: c.p99_ms)
        checks.append(
            Check(
                "p99 < 20 ms at 64 connections",
                worst.p99_ms < 20.0,
                f"worst {worst.p99_ms:.1f} ms ({_where((worst.size, worst.workload, worst.connections))})",
            )
        )
    else:
        checks.append(Check("p99 < 20 ms at 64 connections", None, "no 64-connection cells"))

    # Server time of a list page: its latency with one connection (nothing queued ahead of it).
    big = [
        targets[ZC]
        for key, targets in grouped.items()
        if key[0] >= 1_000_000 and key[1] in LIST_WORKLOADS and key[2] == 1 and ZC in targets
    ]
    if big:
        worst = max(big, key=lambda c: c.p99_ms)
        detail = (
            f"worst p99 {worst.p99_ms:.1f} ms, p50 {worst.p50_ms:.1f} ms ({worst.workload}, 1 connection)"
        )
        slowest = max(search_pages, key=lambda page: page[1], default=None)
        if slowest is not None:
            detail += f"; search pages in process up to {slowest[1]:,.1f} ms ({slowest[0]})"
        checks.append(
            Check(
                f"any list page over 1,000,000 customers < {list_limit_ms:.0f} ms server time",
                worst.p99_ms < list_limit_ms and (slowest is None or slowest[1] < list_limit_ms),
                detail,
            )
        )
    else:
        checks.append(Check("any list page over 1,000,000 customers < 20 ms", None, "1,000,000 set not run"))

    checks.append(
        Check("cold start < 1 s", None if cold_start_s is None else cold_start_s < 1.0,
              "not measured" if cold_start_s is None else f"{cold_start_s * 1000:.0f} ms to the first 200 (median of {COLD_STARTS} starts)")
    )  # fmt: skip
    checks.append(
        Check("resident memory < 150 MB under load", None if peak_rss_mb is None else peak_rss_mb < 150.0,
              "not measured" if peak_rss_mb is None else f"peak {peak_rss_mb:.0f} MiB")
    )  # fmt: skip
    bad = [c for c in cells if c.target == ZC and (c.bad_status or c.socket_errors)]
    checks.append(
        Check(
            "zcontacts answered every request as expected",
            not bad,
            "all good" if not bad else "; ".join(f"{_where((c.size, c.workload, c.connections))}: "
                                                  f"{c.bad_status} bad, {c.socket_errors} socket" for c in bad),
        )
    )  # fmt: skip
    return checks


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _rows(cells: list[Cell], peers: tuple[str, ...]) -> list[list[str]]:
    """One row of text per cell key: zcontacts' figures, then each peer's requests/s and zcontacts ÷ peer; "!"
    marks requests/s of a run that had error responses or socket errors."""
    rows = []
    grouped = by_key(cells)
    order = {w: i for i, w in enumerate(WORKLOADS)}
    for key in sorted(grouped, key=lambda k: (k[0], order.get(k[1], 99), k[2])):
        size, workload, connections = key
        targets = grouped[key]
        zc = targets.get(ZC)
        row = [f"{size:,}", workload, str(connections)]
        row += ["—"] * 3 if zc is None else [_rps(zc), f"{zc.p50_ms:.2f}", f"{zc.p99_ms:.2f}"]
        for peer in peers:
            cell = targets.get(peer)
            row += ["—", "—"] if cell is None else [_rps(cell), _fmt_ratio(ratio(zc, cell))]
        rows.append(row)
    return rows


def _rps(cell: Cell) -> str:
    return f"{cell.rps:,.0f}{'!' if cell.bad_status or cell.socket_errors else ''}"


def results_table(cells: list[Cell], peers: tuple[str, ...] = PEERS) -> Table:
    """zcontacts' figures per cell, then each peer's requests/s and zcontacts ÷ peer."""
    table = Table(title="requests/s and latency; peers as zcontacts ÷ peer (higher is better for zcontacts)")
    for column in ("customers", "workload", "conns", "zc req/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column not in ("workload",) else "left")
    for peer in peers:
        table.add_column(f"{peer} req/s", justify="right")
        table.add_column(f"÷{peer}", justify="right")
    for row in _rows(cells, peers):
        table.add_row(*row)
    return table


def checks_table(checks: list[Check]) -> Table:
    """The targets, met or not."""
    table = Table(title="targets")
    table.add_column("target")
    table.add_column("met")
    table.add_column("measured")
    for check in checks:
        mark = {True: "[green]yes[/green]", False: "[red]NO[/red]", None: "[yellow]n/a[/yellow]"}[check.met]
        table.add_row(check.name, mark, check.detail)
    return table


def markdown_table(cells: list[Cell], peers: tuple[str, ...] = PEERS) -> str:
    """The results table as Markdown (for docs/PERFORMANCE.md and the README)."""
    header = ["customers", "workload", "conns", "zc req/s", "p50 ms", "p99 ms"]
    for peer in peers:
        header += [f"{peer} req/s", f"÷{peer}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(cells, peers)]
    return "\n".join(lines)
