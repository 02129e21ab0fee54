"""What request ids, the JSON access log and /metrics cost per request: GET one contact, in process, straight
through the ASGI app (no sockets), with the observer layer and without it.

    .venv/bin/python bench/observe_overhead.py [--requests 20000] [--rounds 5]

Three variants, interleaved round by round, best round of each reported (the least disturbed by other load):
`bare` (Litestar's handler alone), `metrics+ids` (observer, access log below its level), `metrics+ids+log`
(observer and one JSON access line per request, written to /dev/null by the server's own handler)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from litestar import Litestar

from zcontacts.api.observe import RequestObserver
from zcontacts.app import create_app
from zcontacts.cli import create_organization, create_token
from zcontacts.config import Settings
from zcontacts.domain.scopes import FULL_ACCESS
from zcontacts.logs import configure_logging


async def drive(handler: Any, scope: dict[str, Any], count: int) -> float:
    """Seconds for `count` GETs through `handler`."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(count):
        await handler(dict(scope), receive, send)
    elapsed = time.perf_counter() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed


def main() -> None:
    """Print the per-request cost of each variant."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        # Without the fast path: "bare" (the framework alone) and the observed variants then serve alike.
        settings = Settings(
            database_url=f"sqlite:///{Path(scratch) / 'b.db'}", rate_limit_per_minute=0, fast_path=False
        )
        app = create_app(settings)
        asyncio.run(run(app, args.requests, args.rounds))


async def run(app: Litestar, requests: int, rounds: int) -> None:
    """Start the app, make one contact, and time the variants."""
    async with app.lifespan():
        database = app.state.database
        org = create_organization(database, "Bench", "USD", "Asia/Kolkata")
        token = create_token(database, org.organization_id, [FULL_ACCESS])
        body = b'{"contact_name": "Bench"}'
        headers = [
            (b"authorization", f"Zoho-oauthtoken {token}".encode()),
            (b"x-com-zoho-expense-organizationid", org.organization_id.encode()),
            (b"content-type", b"application/json"),
        ]
        created: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                created.append(message.get("body", b""))

        base = {
            "type": "http",
            "http_version": "1.1",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5000),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
        }
        await app({**base, "method": "POST", "path": "/expense/v1/contacts", "raw_path": b""}, receive, send)
        contact_id = created[0].split(b'"contact_id":"')[1].split(b'"')[0].decode()
        scope = {**base, "method": "GET", "path": f"/expense/v1/contacts/{contact_id}", "raw_path": b""}

        observer = app.asgi_handler
        assert isinstance(observer, RequestObserver)
        configure_logging("info")
        handler = logging.getLogger("zcontacts").handlers[-1]
        sink = Path("/dev/null").open("w")
        sys.stderr, real_stderr = sink, sys.stderr
        access = logging.getLogger("zcontacts.access")
        best: dict[str, float] = {}
        try:
            for _ in range(rounds):
                for name in ("bare", "metrics+ids", "metrics+ids+log"):
                    app.asgi_handler = observer.app if name == "bare" else observer
                    access.setLevel(logging.INFO if name.endswith("log") else logging.WARNING)
                    seconds = await drive(app, scope, requests)
                    best[name] = min(best.get(name, seconds), seconds)
        finally:
            sys.stderr = real_stderr
            sink.close()
            app.asgi_handler = observer
            access.setLevel(logging.NOTSET)
            logging.getLogger("zcontacts").removeHandler(handler)
        bare = best["bare"] / requests * 1e6
        print(f"GET one contact, {requests} requests in process, best of {rounds} rounds")
        for name, seconds in best.items():
            per = seconds / requests * 1e6
            print(
                f"  {name:16} {per:7.1f} µs/request  (+{per - bare:5.1f} µs, {requests / seconds:8.0f} req/s)"
            )


if __name__ == "__main__":
    main()
