"""One workload against one served target, with the server's own CPU per request: `zcontacts serve` (or the
limit) on a copy of a cached dataset, one warm-up second, then wrk; the server's user + system CPU (all its
threads, from /proc) divided by the requests answered. Steadier than requests/s alone on a shared machine,
and what session 10's A/B pairs of the write changes used (docs/PERFORMANCE.md). With --py-spy, a raw
py-spy profile of the measured run is written too (`pip install py-spy`).

    .venv/bin/python -m bench.served create --connections 1 [--target limit|starlette] [--source FILE] [--py-spy OUT]
        [--loop uvloop|asyncio|module:factory] [--http httptools|h11|zttp]

--loop runs the target under uvicorn with that event loop instead of the one `zcontacts serve` picks (session
12: plain uvloop accepts one new connection per loop turn, see zcontacts/event_loop.py). --http runs it under
uvicorn with that HTTP/1.1 implementation instead of httptools (session 19 measured uvicorn's experimental zttp;
`pip install zttp` first)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

from bench import data, servers, wrk
from bench.run import await_index_upkeep, inputs_for
from bench.workloads import WORKLOADS, plan

READY = "/expense/v1/contacts?per_page=1"


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far."""
    total = 0
    for each in (pid, *servers._children(pid)):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _py_spy() -> str:
    """py-spy beside this interpreter (a venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"


def main() -> None:
    """Measure one cell."""
    parser = argparse.ArgumentParser(prog="bench.served", description=__doc__)
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--target", choices=("zcontacts", *servers.LIMIT_APPS), default="zcontacts")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--source", type=Path, help="a database file to copy instead of the cached dataset")
    parser.add_argument("--py-spy", type=Path, help="also record a raw py-spy profile of the run here")
    parser.add_argument("--loop", help="uvicorn's event loop for the target (default: the one serve picks)")
    parser.add_argument("--http", choices=("httptools", "h11", "zttp"),
                        help="uvicorn's HTTP implementation for the target (default: serve's, httptools with a bounded head)")  # fmt: skip
    args = parser.parse_args()

    loaded = data.dataset(args.size)
    work = Path(data.CACHE / "served")
    work.mkdir(parents=True, exist_ok=True)
    database = work / "served.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copy(args.source or loaded.path, database)
    inputs = inputs_for(loaded)
    warm = inputs
    if args.workload in ("update", "delete"):
        victims = data.add_victims(replace(loaded, path=database), 20_000, loaded.count + 30_000_000)
        # Deletes warm up on other customers than they are measured on: each id answers 200 once.
        warm = replace(inputs, update_ids=victims[:1000], delete_ids=victims[:3000])
        inputs = replace(inputs, update_ids=victims[:1000], delete_ids=victims[3000:])
    headers = plan("zoho", "get", inputs).headers
    if args.target == "zcontacts":
        target = servers.zcontacts(f"sqlite:///{database}", READY, headers, loop=args.loop, http=args.http)
    else:
        target = servers.limit(database, READY, headers, name=args.target, loop=args.loop, http=args.http)
    target.start()
    assert target.process is not None
    spy = None
    try:
        # A file started on may need its trigram index merged (a freshly loaded set has ~20 segments): that
        # background work must fall neither into the measured run nor after the warm-up (bench.run waits too).
        time.sleep(0.6)
        if args.target == "zcontacts" and not await_index_upkeep(target):
            print("zcontacts' search index upkeep did not go idle within 180 s")
        wrk.run(target.url, plan("zoho", args.workload, warm), connections=args.connections, seconds=1.0,
                run_tag=uuid.uuid4().hex[:8])  # fmt: skip
        time.sleep(1.0)
        if args.py_spy:
            spy = subprocess.Popen([_py_spy(), "record", "-p", str(target.process.pid), "-d",
                                    str(int(args.seconds) + 1), "-r", "500", "-f", "raw", "-o", str(args.py_spy),
                                    "--nonblocking", "-t"])  # fmt: skip
            time.sleep(0.5)
        before = server_cpu_seconds(target.process.pid)
        result = wrk.run(target.url, plan("zoho", args.workload, inputs), connections=args.connections,
                         seconds=args.seconds, run_tag=uuid.uuid4().hex[:8])  # fmt: skip
        cpu = server_cpu_seconds(target.process.pid) - before
        if spy is not None:
            spy.wait()
    finally:
        target.stop()
    per_request = cpu / result.requests * 1e6 if result.requests else 0.0
    print(f"{args.target} {args.workload} c{args.connections}: {result.rps:,.0f}/s, server CPU "
          f"{per_request:.0f} µs/request, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
          f"max {result.max_ms:.1f} ms, "
          f"{result.bad_status} bad")  # fmt: skip


if __name__ == "__main__":
    main()
