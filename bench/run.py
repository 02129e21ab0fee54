"""The benchmark: `./scripts/bench` (or `.venv/bin/python -m bench.run`). Loads (or reuses) the datasets,
starts zcontacts, the two limits (raw ASGI and bare Starlette), json-server and Prism on loopback ports,
drives every workload at each connection count against each target in turn (interleaved, so machine noise
hits all alike), then prints the table, the list query plans and the targets. Every wrk run is bounded; the
run stops by itself."""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path

import httpx
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection

from bench import data, servers, setup, wrk
from bench.report import COLD_STARTS, Cell, check_targets, checks_table, markdown_table, results_table
from bench.search_plans import search_pages, search_plans_table
from bench.workloads import (
    DESCRIPTIONS,
    JSON_SERVER,
    LIST_WORKLOADS,
    PATH,
    PLACEHOLDER,
    WORKLOADS,
    WRITE_WORKLOADS,
    Inputs,
    Plan,
    plan,
)
from zcontacts.domain.listing import parse_list_query
from zcontacts.storage.contacts import (
    ContactsRepo,
    _filter_parameters,
    _shape,
    _unique_sort,
    seek_page_sql,
)
from zcontacts.storage.database import Database
from zcontacts.storage.page_marks import seek_parameters

RESULTS = Path(__file__).resolve().parent / "results"
JSON_SERVER_SIZE = 10_000  # json-server keeps everything in one JSON document in memory
console = Console(highlight=False, width=200)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 customers, 1 s per cell")
    parser.add_argument("--sizes", default="10000,1000000", help="customer counts (comma separated)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured run before each workload")
    parser.add_argument("--connections", default="1,16,64", help="connection counts (comma separated)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="workloads (comma separated)")
    parser.add_argument(
        "--targets", default="zcontacts,limit,starlette,json-server,prism", help="targets to run"
    )
    parser.add_argument("--workers", type=int, default=1, help="zcontacts and limit server processes")
    parser.add_argument("--server", default="uvicorn", choices=("uvicorn", "granian"),
                        help="HTTP server for zcontacts and the limit (uvicorn: as `zcontacts serve`)")  # fmt: skip
    parser.add_argument("--no-install", action="store_true", help="do not install wrk or the npm tools")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.seconds, args.warmup = "10000", 1.0, 0.5
    return args


def _stop(_signum: int, _frame: object) -> None:
    # SIGTERM (and SIGINT where a shell ignores it for background jobs) ends the run through its finally
    # blocks: every server stopped, every customer the run added removed.
    raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    """Run the whole benchmark."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    args = arguments(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    connections = [int(c) for c in args.connections.split(",")]
    workloads = [w for w in args.workloads.split(",") if w]
    wanted = set(args.targets.split(","))
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        raise SystemExit(f"unknown workloads: {', '.join(sorted(unknown))}")

    notes: list[str] = []
    if not args.no_install:
        if (reason := setup.ensure_wrk(console)) is not None:
            raise SystemExit(f"cannot run without wrk: {reason}")
        if args.server == "granian" and (reason := setup.ensure_granian(console)) is not None:
            raise SystemExit(f"cannot run under granian: {reason}")
        for package, reason in setup.ensure_npm_tools(console).items():
            if reason is not None:
                notes.append(f"{package} unavailable, its target is skipped: {reason}")
    available = {
        "json-server": setup.installed_version("json-server") is not None,
        "prism": setup.installed_version("@stoplight/prism-cli") is not None,
    }
    for name, ok in available.items():
        if name in wanted and not ok:
            wanted.discard(name)
            notes.append(f"{name} is not installed: skipped")
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")

    cells: list[Cell] = []
    searched: list[tuple[str, float]] = []  # search pages over 1,000,000 customers, in process (ms)
    cold_starts: list[float] = []
    peak_rss: list[float] = []
    started = time.monotonic()
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        small = data.dataset(JSON_SERVER_SIZE, progress=progress) if "json-server" in wanted else None
        for size in sizes:
            loaded = data.dataset(size, progress=progress)
            size_workloads = [w for w in workloads if w != "list_deep" or size >= 100_000]
            size_bytes, seconds = data.warm(loaded)
            console.print(
                f"page cache: read the {size_bytes / 2**30:.1f} GiB file of {size:,} customers in {seconds:.1f} s"
            )
            print_plans(loaded, size_workloads)
            if size >= 100_000:
                pages = search_pages(loaded)
                console.print(search_plans_table(size, pages))
                if size >= 1_000_000:
                    searched += [(page.listing, page.ms) for page in pages]
            outcome = run_size(
                loaded, small, size_workloads, connections, wanted, args, progress=progress, notes=notes
            )
            cells += outcome[0]
            cold_starts += outcome[1]
            peak_rss += outcome[2]

    cold = max(cold_starts) if cold_starts else None
    rss = max(peak_rss) if peak_rss else None
    console.print(results_table(cells))
    for workload in workloads:
        console.print(f"  {workload:<12} {DESCRIPTIONS[workload]}", style="dim")
    console.print(
        "  ÷peer is zcontacts req/s divided by the peer's; '!' marks a cell with error responses. Server time "
        "of a page is its latency at 1 connection.",
        style="dim",
    )
    if "json-server" in wanted and any(s != JSON_SERVER_SIZE for s in sizes):
        console.print(
            f"  json-server holds the {JSON_SERVER_SIZE:,}-customer set in every row: it keeps its whole database "
            "as one JSON document in memory and rewrites the file on every write, which is not workable at "
            "1,000,000 customers (over 1.5 GB of JSON).",
            style="dim",
        )
    checks = check_targets(cells, cold_start_s=cold, peak_rss_mb=rss, search_pages=searched)
    console.print(checks_table(checks))
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    save(cells, checks, args, cold, rss, notes)
    console.print(
        f"done in {time.monotonic() - started:.0f} s; results in {RESULTS}/latest.json and latest.md"
    )


def print_plans(loaded: data.Dataset, workloads: list[str]) -> None:
    """EXPLAIN QUERY PLAN of each list workload's statement on this dataset (no full scans)."""
    inputs = inputs_for(loaded)
    database = Database.from_url(loaded.url)
    console.print(f"[bold]query plans over {loaded.count:,} customers[/bold]")
    try:
        for workload in workloads:
            if workload not in LIST_WORKLOADS:
                continue
            path = plan("zoho", workload, inputs).paths[0]
            query = parse_list_query(httpx.URL(path).params.multi_items())

            def explain(connection: Connection, q: object = query) -> tuple[str, float]:
                repo = ContactsRepo(connection)
                statement = repo.list_statement(loaded.organization_id, q)  # type: ignore[arg-type]
                compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
                begin = time.perf_counter()
                repo.list_summaries(loaded.organization_id, q)  # type: ignore[arg-type]
                return "\n".join(f"    {row[-1]}" for row in rows), time.perf_counter() - begin

            text, seconds = database.run(explain, write=False)
            if workload == "list_deep":
                # Deep pages are read from a remembered (key, id) mark on: this is the statement served.
                seek = seek_page_sql(_shape(query))
                mark = ("",) if _unique_sort(query.sort_column) else ("", 0)
                args = [
                    *_filter_parameters(loaded.organization_id, query),
                    *seek_parameters(mark),
                    query.per_page + 1,
                    0,
                ]
                rows = database.fetch(f"EXPLAIN QUERY PLAN {seek}", args)
                text += "\n    served from a mark by: " + "; ".join(str(row[-1]) for row in rows)
            console.print(f"  {workload} ({path.split('?', 1)[-1] if '?' in path else 'default'}): "
                          f"{seconds * 1000:.1f} ms in process\n{text}")  # fmt: skip
    finally:
        database.dispose()


def inputs_for(loaded: data.Dataset) -> Inputs:
    """What the workloads address in a dataset."""
    return Inputs(
        count=loaded.count,
        organization_id=loaded.organization_id,
        token=loaded.token,
        sample_ids=loaded.sample_ids,
        companies=loaded.companies,
        search_terms=loaded.search_terms,
    )


def run_size(
    loaded: data.Dataset,
    small: data.Dataset | None,
    workloads: list[str],
    connections: list[int],
    wanted: set[str],
    args: argparse.Namespace,
    *,
    progress: Progress,
    notes: list[str],
) -> tuple[list[Cell], list[float], list[float]]:
    """Every cell of one dataset; returns the cells, zcontacts' cold start and its peak memory."""
    base = inputs_for(loaded)
    headers = {
        "Authorization": f"Zoho-oauthtoken {loaded.token}",
        "X-com-zoho-expense-organizationid": loaded.organization_id,
    }
    ready = f"{PATH}/{loaded.sample_ids[0]}"
    victims_start = loaded.count + 10_000_000  # creation numbers far past the loaded ones
    targets: list[servers.Target] = []
    inputs: dict[str, Inputs] = {}
    folder = Path(tempfile.mkdtemp(prefix="zc-bench-"))
    cells: list[Cell] = []
    try:
        zc = servers.zcontacts(loaded.url, ready, headers, workers=args.workers, server=args.server)
        starts = [zc.start()]
        for _ in range(COLD_STARTS - 1):
            zc.stop()
            starts.append(zc.start())
        zc.cold_start_s = statistics.median(starts)
        each = ", ".join(f"{s * 1000:.0f}" for s in starts)
        console.print(
            f"zcontacts on {loaded.count:,} customers: cold start {zc.cold_start_s * 1000:.0f} ms "
            f"(median of {each} ms)"
        )
        targets.append(zc)
        for name in servers.LIMIT_APPS:
            if name in wanted:
                targets.append(
                    servers.limit(
                        loaded.path, ready, headers, workers=args.workers, server=args.server, name=name
                    )
                )
        if "json-server" in wanted and small is not None:
            note = "" if loaded.count == small.count else f"holds {small.count:,}"
            targets.append(
                servers.json_server(json_server_db(small, folder), f"/contacts/{small.sample_ids[0]}", note)
            )
        if "prism" in wanted:
            openapi = folder / "openapi.json"
            openapi.write_bytes(httpx.get(zc.url + "/docs/openapi.json").content)
            targets.append(servers.prism(openapi, ready, headers))
        for target in targets[1:]:
            try:
                target.start()
            except RuntimeError as exc:
                notes.append(f"{target.name} did not start, skipped: {str(exc)[:300]}")
                targets.remove(target)
        if "zcontacts" not in wanted:
            targets.remove(zc)

        task = progress.add_task(
            f"{loaded.count:,} customers", total=len(workloads) * len(connections) * len(targets)
        )
        offset = 0
        for target in targets:
            if target.dialect == JSON_SERVER and small is not None:
                ids = small.sample_ids
                inputs[target.name] = replace(
                    inputs_for(small), update_ids=ids[:500], delete_ids=_json_server_victims(small)
                )
            elif target.name == "prism":
                inputs[target.name] = replace(base, update_ids=base.sample_ids, delete_ids=base.sample_ids)
            else:
                made = data.add_victims(loaded, 1000, victims_start + offset)
                offset += 1000
                inputs[target.name] = replace(base, update_ids=made)
        rates: dict[tuple[str, int], float] = {}
        upkeep_waits: list[float] = []
        quiet_waits: list[float] = []

        def quiet(target: servers.Target, after: str) -> None:
            # Answering again is not enough: a server can go on working once wrk has closed its connections
            # (requests it had already read, work of its own), and that would fall into the next cell.
            began = time.monotonic()
            if not await_quiet(target):
                notes.append(f"{target.name} still busy {QUIET_LIMIT_S:.0f} s after {after}")
            quiet_waits.append(time.monotonic() - began)
            if quiet_waits[-1] > 2:
                console.print(
                    f"  {target.name} went quiet {quiet_waits[-1]:.1f} s after {after}", style="dim"
                )

        def upkeep() -> None:
            started = time.monotonic()
            time.sleep(0.6)  # the index watcher looks every half second: let it see the last write first
            if not await_index_upkeep(zc):
                notes.append("zcontacts' search index upkeep did not go idle within 180 s")
            upkeep_waits.append(time.monotonic() - started)

        data.checkpoint(loaded)
        upkeep()  # the loaded file and the victims just added
        for workload in workloads:
            for target in targets:
                if args.warmup > 0 and workload != "delete":
                    _measure(target, workload, inputs[target.name], 16, args.warmup)
                _settle(target)
                quiet(target, f"{workload}'s warm-up")
                probe = _probe(target, plan(target.dialect, workload, inputs[target.name]))
                if probe:
                    notes.append(f"{target.name} {workload}: {probe}")
            for count in connections:
                for target in targets:
                    progress.update(task, description=f"{loaded.count:,}: {workload} c{count} {target.name}")
                    target_inputs = inputs[target.name]
                    if workload == "delete" and _writes_the_file(target):
                        # Enough for the cell at the target's best write rate (4,000/s when no create or update
                        # cell ran: served deletes have reached ~3,300/s), or the last requests find none left.
                        need = int(max(rates.get((target.name, count), 4000.0), 500.0) * args.seconds * 1.5)
                        made = data.add_victims(loaded, need, victims_start + offset)
                        offset += need
                        target_inputs = replace(target_inputs, delete_ids=made)
                        # The victims' insert left ~100 MB of WAL: copied back now, not by the cell's checkpoints.
                        data.checkpoint(loaded)
                        upkeep()
                    target.sample_memory(True)
                    result = _measure(target, workload, target_inputs, count, args.seconds)
                    target.sample_memory(False)
                    if workload == "delete" and target.dialect == JSON_SERVER:
                        inputs[target.name] = past_deleted(target_inputs, result.requests, count)
                    if workload in ("create", "update"):
                        rates[(target.name, count)] = max(rates.get((target.name, count), 0.0), result.rps)
                    cells.append(
                        Cell(size=loaded.count, workload=workload, connections=count, target=target.name,
                             rps=result.rps, p50_ms=result.p50_ms, p99_ms=result.p99_ms, requests=result.requests,
                             bad_status=result.bad_status, socket_errors=result.socket_errors, note=target.note)
                    )  # fmt: skip
                    progress.advance(task)
                    console.print(f"  {loaded.count:,} {workload} c{count} {target.name}: {result.rps:,.0f}/s "
                                  f"p50 {result.p50_ms:.2f} p99 {result.p99_ms:.2f} ms"
                                  f"{f' ({result.bad_status} bad)' if result.bad_status else ''}", style="dim")  # fmt: skip
                    # A target still working through queued requests (json-server rewriting its file)
                    # would steal the next target's CPU: wait until it answers again.
                    _settle(target)
                    if workload in WRITE_WORKLOADS and _writes_the_file(target):
                        upkeep()
                    quiet(target, f"{workload} c{count}")
        progress.remove_task(task)
        for target in targets:
            if target.name != "zcontacts":
                console.print(f"  {target.name}: cold start {target.cold_start_s * 1000:.0f} ms, "
                              f"peak RSS {target.peak_rss_mb:.0f} MiB", style="dim")  # fmt: skip
        console.print(f"  zcontacts: peak RSS {zc.peak_rss_mb:.0f} MiB", style="dim")
        console.print(f"  waited {sum(upkeep_waits):.1f} s in all for zcontacts' search index upkeep "
                      f"(longest {max(upkeep_waits):.1f} s)", style="dim")  # fmt: skip
        console.print(f"  waited {sum(quiet_waits):.1f} s in all for the targets to go quiet after their cells "
                      f"(longest {max(quiet_waits, default=0.0):.1f} s)", style="dim")  # fmt: skip
        return cells, [zc.cold_start_s], [zc.peak_rss_mb] if zc.peak_rss_mb else []
    finally:
        for target in targets:
            target.stop()
        removed = data.reset(loaded)
        console.print(f"  removed the run's {removed:,} customers; the cached set is as loaded", style="dim")


def _measure(
    target: servers.Target, workload: str, inputs: Inputs, connections: int, seconds: float
) -> wrk.Result:
    return wrk.run(
        target.url,
        plan(target.dialect, workload, inputs),
        connections=connections,
        seconds=seconds,
        run_tag=uuid.uuid4().hex[:8],
    )


def _writes_the_file(target: servers.Target) -> bool:
    """zcontacts and the limit write the dataset's file; json-server keeps its own, Prism stores nothing."""
    return target.dialect != JSON_SERVER and target.name != "prism"


def _settle(target: servers.Target, limit_s: float = 120.0) -> None:
    """Wait (bounded) until the target answers its ready request again."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            httpx.get(target.url + target.ready_path, headers=target.headers, timeout=limit_s)
            return
        except httpx.HTTPError:
            time.sleep(0.5)


# A target is quiet once it uses under QUIET_CPU_SHARE of one core over QUIET_WINDOW_S.
QUIET_WINDOW_S = 0.25
QUIET_CPU_SHARE = 0.1
QUIET_LIMIT_S = 300.0


def await_quiet(target: servers.Target, limit_s: float = QUIET_LIMIT_S) -> bool:
    """Wait (bounded) until the target's processes stop using the CPU, so no work left from one cell falls
    into the next (another target's, whose figures it would lower). False if it did not go quiet in time."""
    if target.process is None:
        return True
    pid = target.process.pid
    deadline = time.monotonic() + limit_s
    used = servers.cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(QUIET_WINDOW_S)
        now = servers.cpu_seconds(pid)
        if now - used < QUIET_CPU_SHARE * QUIET_WINDOW_S:
            return True
        used = now
    return False


def await_index_upkeep(zc: servers.Target, limit_s: float = 180.0) -> bool:
    """Wait (bounded) until zcontacts reports its search index upkeep idle: once writes stop it merges the
    trigram index in the background (storage/search_index.py), and that work must not fall into the next
    target's cell. False if it did not go idle in time."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            text = httpx.get(zc.url + "/metrics", timeout=10).text
        except httpx.HTTPError:
            return False
        gauge = [line for line in text.splitlines() if line.startswith("zcontacts_search_index_busy{")]
        if not gauge or gauge[0].endswith(" 0"):
            return True
        time.sleep(0.2)
    return False


def _probe(target: servers.Target, workload_plan: Plan) -> str:
    """One request of the workload before it is measured: '' when it gets the expected status."""
    if workload_plan.method == "DELETE":
        return ""  # would consume a victim; wrk counts bad statuses anyway
    body = None
    if workload_plan.body is not None:
        body = workload_plan.body.replace(PLACEHOLDER, "probe-" + uuid.uuid4().hex[:8])
    try:
        response = httpx.request(
            workload_plan.method,
            target.url + workload_plan.paths[0],
            headers=workload_plan.headers,
            content=body,
            timeout=120,
        )
    except httpx.HTTPError as exc:
        return f"probe failed: {exc!r}"
    if response.status_code != workload_plan.expect:
        return f"probe got {response.status_code} (expected {workload_plan.expect}): {response.text[:200]}"
    return ""


def json_server_db(small: data.Dataset, folder: Path) -> Path:
    """db.json for json-server: the same stored customer documents, under `contacts`."""
    path = folder / "db.json"
    with path.open("wb") as out:
        out.write(b'{"contacts":[')
        for index, doc in enumerate(data.iter_docs(small)):
            if index:
                out.write(b",")
            out.write(doc)
        out.write(b"]}")
    return path


def past_deleted(inputs: Inputs, requests: int, connections: int) -> Inputs:
    """json-server's victims after a delete cell: they are loaded customers shared by its delete cells, so the
    next cell starts past the ones this one deleted and those still in flight when wrk stopped (one per
    connection), or its first requests would get 404s."""
    return replace(inputs, delete_ids=inputs.delete_ids[requests + connections :])


def _json_server_victims(small: data.Dataset) -> list[str]:
    """Loaded ids json-server may delete: every id that get and update do not use, newest first."""
    keep = set(small.sample_ids)
    decoder = msgspec.json.Decoder(dict[str, object])
    ids = [str(decoder.decode(doc)["contact_id"]) for doc in data.iter_docs(small)]
    return [i for i in reversed(ids) if i not in keep]


def save(
    cells: list[Cell],
    checks: list[object],
    args: argparse.Namespace,
    cold: float | None,
    rss: float | None,
    notes: list[str],
) -> None:
    """results/latest.json (every figure) and results/latest.md (the table)."""
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "arguments": vars(args),
        "cold_start_s": cold,
        "peak_rss_mb": rss,
        "cells": [asdict(c) for c in cells],
        "checks": [asdict(c) for c in checks],  # type: ignore[call-overload]
        "notes": notes,
    }
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / "latest.md").write_text(markdown_table(cells) + "\n")


if __name__ == "__main__":
    main()
