"""What churn does to SQLite's trigram index, and what the compactor's merge gives back (migration 0008).

On a copy of the 10,000-customer set, in process, through the limit's statements (bench/limit_app.py: the
trigram queue applied every 64 writes, as zcontacts applies it), customers are removed in one of two ways:

- `requests`: the oldest customers deleted and as many new ones created, one write per transaction, as a
  registry's clients do;
- `at-once`: the oldest customers deleted in one transaction with the queue applied in it, as a large import
  or clean-up does (`Database.run`).

It prints the index's size and segments, the cancelled entries counted and a search's CPU as loaded, after
the churn and after the compactor (storage/search_index.py) has decided on and run its merge, with what the
segment rule alone (more than 8 segments, before 0008) would have decided.

    .venv/bin/python -m bench.churn [requests|at-once] [--count 5000]"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from bench import data
from bench.limit_app import LimitApp
from bench.workloads import CREATE_BODY, PLACEHOLDER
from zcontacts.storage import search_index

_OLDEST = "SELECT contact_id FROM contacts WHERE organization_id = ? ORDER BY contact_id LIMIT ?"


def _replace(limit: LimitApp, org: int, count: int) -> None:
    """The `count` oldest customers deleted and as many new ones created, one write per transaction."""
    for n, (contact_id,) in enumerate(limit.db.execute(_OLDEST, (org, count)).fetchall()):
        # Writes counted as after_write counts them (its checkpoints need an event loop: SQLite's own run).
        limit.delete(org, contact_id)
        limit.writes += 1
        limit.create(org, CREATE_BODY.replace(PLACEHOLDER, f"churn-{n}").encode())
        limit.writes += 1


def _delete_at_once(limit: LimitApp, org: int, count: int) -> None:
    """The `count` oldest customers deleted in one transaction that applies the queue."""
    limit.db.execute("BEGIN IMMEDIATE")
    limit.db.execute(f"DELETE FROM contacts WHERE contact_id IN ({_OLDEST})", (org, count))
    search_index.apply_pending(limit.db)
    limit.db.execute("COMMIT")


def _search_us(limit: LimitApp, org: int, terms: list[str], repeat: int = 20) -> float:
    """CPU µs per search page (the list_search workload's query)."""
    queries = [urlencode({"search_text": term}) for term in terms]
    started = time.process_time()
    for _ in range(repeat):
        for query in queries:
            limit.list(org, query)
    return (time.process_time() - started) / (repeat * len(queries)) * 1e6


def _report(label: str, path: Path, limit: LimitApp, org: int, terms: list[str]) -> None:
    with sqlite3.connect(path) as connection:
        (size,) = connection.execute("SELECT sum(length(block)) FROM contacts_fts_data").fetchone()
        count = search_index.segments(connection)
        cancelled = search_index.churn(connection)
    print(f"{label}: index {size / 1e6:.2f} MB in {count} segments, {cancelled:,} cancelled entries counted, "
          f"a search {_search_us(limit, org, terms):,.0f} µs of CPU")  # fmt: skip


def main() -> None:
    """Measure as loaded, after the churn and after the merge."""
    parser = argparse.ArgumentParser(prog="bench.churn", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=("requests", "at-once"), default="requests")
    parser.add_argument("--count", type=int, default=5000, help="customers removed")
    args = parser.parse_args()
    loaded = data.dataset(10_000)
    folder = Path(tempfile.mkdtemp(prefix="zc-churn-"))
    path = folder / "churn.db"
    try:
        shutil.copy(loaded.path, path)
        limit = LimitApp(str(path))
        org = int(loaded.organization_id)
        terms = loaded.search_terms
        _report("as loaded", path, limit, org, terms)
        started = time.monotonic()
        if args.mode == "requests":
            _replace(limit, org, args.count)
        else:
            _delete_at_once(limit, org, args.count)
        print(f"{args.mode}: {args.count:,} customers removed in {time.monotonic() - started:.1f} s")
        _report("after the churn", path, limit, org, terms)
        compactor = search_index.IndexCompactor(str(path))
        with sqlite3.connect(path, isolation_level=None) as connection:
            search_index.apply_step(connection)
            count = search_index.segments(connection)
            by_segments = count > compactor.max_segments
            wanted = compactor._worth_merging(connection, count, search_index.churn(connection))
        started = time.monotonic()
        compactor._merge(version=0)
        compactor.close()
        print(f"compactor: merge {'wanted' if wanted else 'not wanted'} (by the segment rule alone: "
              f"{'wanted' if by_segments else 'not wanted'}); {compactor.merges} merge run in "
              f"{time.monotonic() - started:.2f} s")  # fmt: skip
        _report("after the merge", path, limit, org, terms)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
