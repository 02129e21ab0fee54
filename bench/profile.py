"""Per-request cost of zcontacts without a network: the real ASGI app (create_app) called directly, N times,
for one workload; prints microseconds per request, and with --pyinstrument a call tree of where they go.
For the same view of a live server under wrk load, use py-spy (`py-spy record -p PID`).

    .venv/bin/python -m bench.profile get --size 10000 -n 20000 [--pyinstrument] [--app limit]"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench import data
from bench.run import inputs_for
from bench.workloads import PLACEHOLDER, WORKLOADS, plan


def _scope(method: str, target: str, headers: dict[str, str], body: bytes | None) -> dict[str, Any]:
    url = httpx.URL(target)
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if body is not None:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _lifespan(app: Any) -> Callable[[], Awaitable[None]]:
    """Run the app's startup; returns a coroutine function that runs its shutdown."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                   inbox.get, outbox.put))  # fmt: skip
    await inbox.put({"type": "lifespan.startup"})
    await outbox.get()

    async def shutdown() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return shutdown


async def drive(app: Any, workload: str, loaded: data.Dataset, count: int) -> tuple[float, int]:
    """Call the app `count` times with the workload's requests; returns (CPU seconds, last status)."""
    inputs = inputs_for(loaded)
    if workload in ("update", "delete"):
        data.reset(loaded)  # the previous round's customers go first: victims are numbered alike
        victims = data.add_victims(loaded, count if workload == "delete" else 1000, loaded.count + 20_000_000)
        inputs = type(inputs)(**{**inputs.__dict__, "update_ids": victims, "delete_ids": victims})
    workload_plan = plan("zoho", workload, inputs)
    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    shutdown = await _lifespan(app)
    tag = uuid.uuid4().hex[:8]
    started = time.process_time()  # CPU time: far steadier than wall time on a shared machine
    # Scopes of bodiless requests are built before the clock starts (parsing URLs is no part of the app's cost).
    ready = [_scope(workload_plan.method, path, workload_plan.headers, None) for path in workload_plan.paths]
    for i in range(count):
        body = None
        if workload_plan.body is not None:
            body = workload_plan.body.replace(PLACEHOLDER, f"{tag}-{i}").encode()
        path = workload_plan.paths[i % len(workload_plan.paths)]
        if body is None:
            scope = {**ready[i % len(ready)], "state": {}}
        else:
            scope = _scope(workload_plan.method, path, workload_plan.headers, body)
        sent = False

        async def receive(b: bytes | None = body) -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": b or b"", "more_body": False}

        await app(scope, receive, send)
    elapsed = time.process_time() - started
    await shutdown()
    return elapsed, status


def main() -> None:
    """Profile one workload in process."""
    parser = argparse.ArgumentParser(prog="bench.profile")
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--app", choices=("zcontacts", "limit"), default="zcontacts")
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--no-fast-path", action="store_true", help="zcontacts without its fast path")
    args = parser.parse_args()
    loaded = data.dataset(args.size)
    if args.app == "limit":
        from bench.limit_app import LimitApp

        app: Any = LimitApp(str(loaded.path))
    else:
        from zcontacts.app import create_app
        from zcontacts.config import Settings

        # From the environment too, so ZCONTACTS_GROUP_COMMIT=false and the like compare variants.
        app = create_app(
            Settings.from_env(
                database_url=loaded.url,
                log_level="warning",
                rate_limit_per_minute=0,
                fast_path=not args.no_fast_path,
            )
        )
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    profiler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
    try:
        elapsed, status = asyncio.run(drive(app, args.workload, loaded, args.n))
    finally:
        if profiler is not None:
            profiler.stop()
        data.reset(loaded)
    print(f"{args.app} {args.workload}: {elapsed / args.n * 1e6:.1f} µs of CPU per request "
          f"({args.n / elapsed:,.0f}/s in process), last status {status}")  # fmt: skip
    if profiler is not None:
        print(
            profiler.output_text(
                unicode=True, color=False, show_all=os.environ.get("BENCH_PROFILE_ALL") == "1"
            )
        )


if __name__ == "__main__":
    main()
