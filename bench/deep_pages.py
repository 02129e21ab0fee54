"""Deep list pages right after a write: the time of one page with the marks kept across this process's writes
(storage/page_marks.py) against the same app with its marks dropped before the page, as every write did before
session 23. The real app, called in process over ASGI (no network), on the cached benchmark set; each round
creates one customer, then reads the pages: first every round with the marks kept, then every round with them
dropped (a dropped round would leave the next kept one nothing to keep). The run's customers are removed
afterwards, so the cached set stays as loaded.

    .venv/bin/python -m bench.deep_pages [--size 1000000] [--rounds 10]"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

import httpx

from bench import data
from bench.profile import _lifespan
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage.database import Database

CONTACTS = "/expense/v1/contacts"


def pages(size: int) -> list[tuple[str, dict[str, str]]]:
    """The listings measured: page 50, the middle and the last page by name, and the newest-first listing's
    last page (every create moves each of its rows)."""
    last = str(size // 200)
    return [
        ("name, page 50", {"page": "50"}),
        ("name, middle page", {"page": str(size // 400)}),
        ("name, last page", {"page": last}),
        ("newest first, last page", {"sort_column": "created_time", "sort_order": "D", "page": last}),
    ]


async def measure(size: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    loaded = data.dataset(size)
    settings = Settings(database_url=loaded.url, rate_limit_per_minute=0, auto_migrate=False)
    app = create_app(settings)
    database: Database = app.state["database"]
    shutdown = await _lifespan(app)
    headers = {"Authorization": f"Zoho-oauthtoken {loaded.token}", "X-com-zoho-expense-organizationid":
               loaded.organization_id}  # fmt: skip
    times: dict[str, dict[str, list[float]]] = {"kept": {}, "dropped": {}}
    try:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _label, params in pages(size):  # marks found once, as a server that has served them
                await _page(client, headers, params)
            for round_ in range(rounds * 2):
                mode = "kept" if round_ < rounds else "dropped"
                body = {"contact_name": f"Deep page probe {round_}", "company_name": "Probe"}
                created = await client.post(CONTACTS, json=body, headers=headers)
                assert created.status_code == 201, created.text
                for label, params in pages(size):
                    if mode == "dropped" and database.marks is not None:
                        database.marks.drop()  # as any write did before session 23
                    times[mode].setdefault(label, []).append(await _page(client, headers, params))
    finally:
        await shutdown()
        data.reset(loaded)
    return times


async def _page(client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = await client.get(CONTACTS, params={**params, "per_page": "200"}, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:200]
    assert response.json()["customers"], "a page past the end: the set is smaller than --size"
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.deep_pages", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="cached set to read (customers)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per mode")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the app's access log, one line per request
    times = asyncio.run(measure(args.size, args.rounds))
    print(
        f"deep pages over {args.size:,} customers, right after a create ({args.rounds} rounds per mode), ms"
    )
    print(f"{'page':<26}{'kept p50':>10}{'kept max':>10}{'dropped p50':>13}{'dropped max':>13}{'ratio':>8}")
    for label in times["kept"]:
        kept, dropped = times["kept"][label], times["dropped"][label]
        ratio = statistics.median(dropped) / statistics.median(kept)
        print(f"{label:<26}{statistics.median(kept):>10.2f}{max(kept):>10.2f}"
              f"{statistics.median(dropped):>13.2f}{max(dropped):>13.2f}{ratio:>7.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
