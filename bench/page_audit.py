"""Every shape of list page over a loaded dataset, timed in process: which still take 20 ms or more.

    python -m bench.page_audit [--size 1000000] [--over 20] [--pages 1,5] [--only TEXT] [--isolated] [--first]

"Any list page over 1,000,000 customers < 20 ms server time" (issue 7) covers listings no benchmark cell asks for.
This crosses every filter (a common value, a broad and a narrow prefix, a substring) and a few searches with every
sort, both orders and with or without a status, reads each page as served (no page memo), and prints the pages
at or over the bound, slowest first, with the plan the listing's SQL would take. Reads the file read-only."""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Iterator
from typing import NamedTuple

from bench import data
from zcontacts.config import Settings
from zcontacts.domain.listing import SORT_COLUMNS, ListQuery, parse_list_query
from zcontacts.storage import wal_buffer
from zcontacts.storage.contacts import _sqlite_page_rows
from zcontacts.storage.database import Reader

# Per filter: a common value, prefixes broad and narrow, substrings broad and narrow (bench/data.py's words).
TERMS = {
    "first_name": ["eq:ivan", "startswith:a", "startswith:iv", "contains:iv", "contains:a"],
    "last_name": ["eq:patel", "startswith:k", "startswith:nak", "contains:pat", "contains:e"],
    "email": ["startswith:a", "startswith:ivan.", "contains:gmail", "contains:ivan"],
    "phone": ["startswith:+1-2", "startswith:+1-555", "contains:555"],
    "contact_name": ["startswith:a", "startswith:ivan", "contains:ivan", "contains:pat"],
    "company_name": [
        "eq:apex labs 0000",
        "startswith:a",
        "startswith:apex",
        "contains:labs",
        "contains:apex",
    ],
}
SEARCHES = ["com", "ivan", "labs", "iv", "a"]
STATUSES = ["", "Status.Active"]


class Timed(NamedTuple):
    listing: str
    ms: float
    rows: int


def listings(pages: list[int]) -> Iterator[str]:
    """Every listing the audit reads, as its query string."""
    wheres = [
        f"{field}={value}" if op == "eq" else f"{field}_{op}={value}"
        for field, terms in TERMS.items()
        for op, value in (term.split(":", 1) for term in terms)
    ]
    wheres += [f"search_text={term}" for term in SEARCHES]
    for where in wheres:
        for column in SORT_COLUMNS:
            for order in "AD":
                for status in STATUSES:
                    for page in pages:
                        parts = [where, f"sort_column={column}", f"sort_order={order}"]
                        parts += [f"filter_by={status}"] if status else []
                        parts += [f"page={page}"] if page > 1 else []
                        yield "&".join(parts)


def query_of(listing: str) -> ListQuery:
    return parse_list_query([tuple(part.split("=", 1)) for part in listing.split("&")])  # type: ignore[misc]


def audit(
    loaded: data.Dataset,
    pages: list[int],
    over_ms: float,
    only: str = "",
    *,
    isolated: bool = False,
    first: bool = False,
) -> tuple[int, list[Timed]]:
    """How many listings were read (those holding `only`), and those at or over `over_ms` (best of three),
    slowest first. `isolated`: each listing on a fresh Reader (the same connection and page cache), so no hint a
    listing before it left (Reader.uneven, counts kept until a commit) chooses its plan. `first`: each listing
    read once, on a fresh Reader: what a page costs with nothing kept for it (no marks, no counts), as the
    first read after a commit finds it (but for hints, which a commit keeps)."""
    # Opened as the server opens its readers: through the WAL shim where it is on (ZCONTACTS_SQLITE_WAL_BUFFER),
    # which also times page reads for a walk's deadline (Reader.within).
    wal_buffer.configure(Settings.from_env().sqlite_wal_buffer)
    connection = sqlite3.connect(f"file:{loaded.path}?mode=ro", uri=True, check_same_thread=False)
    connection.execute("PRAGMA cache_size=-32768")  # as the served reader (ZCONTACTS_SQLITE_READ_CACHE_MB)
    reader = Reader(connection)
    slow, count = [], 0
    try:
        for listing in listings(pages):
            if only not in listing:
                continue
            query = query_of(listing)
            if isolated or first:
                reader = Reader(connection)
            best, rows = float("inf"), 0
            for _ in range(1 if first else 3):
                began = time.perf_counter()
                rows = len(_sqlite_page_rows(reader, loaded.organization_id, query))
                best = min(best, (time.perf_counter() - began) * 1000)
                if best < over_ms:
                    break  # under the bound once is enough: only slow pages are confirmed
            count += 1
            if best >= over_ms:
                slow.append(Timed(listing, best, rows))
    finally:
        connection.close()
    return count, sorted(slow, key=lambda timed: -timed.ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", type=int, default=1_000_000, help="customers in the dataset (loaded if needed)"
    )
    parser.add_argument("--over", type=float, default=20.0, help="the bound in ms")
    parser.add_argument("--pages", default="1,5", help="page numbers to read, comma-separated")
    parser.add_argument(
        "--only", default="", help="read only the listings whose query string holds this text"
    )
    parser.add_argument(
        "--isolated",
        action="store_true",
        help="read each listing on a reader of its own, with no plan hints left by the listings before it",
    )
    parser.add_argument(
        "--first",
        action="store_true",
        help="read each listing once on a reader of its own: the page with no marks or counts kept for it",
    )
    args = parser.parse_args()
    loaded = data.dataset(args.size)
    data.warm(loaded)
    began = time.perf_counter()
    pages = [int(page) for page in args.pages.split(",")]
    count, slow = audit(loaded, pages, args.over, args.only, isolated=args.isolated, first=args.first)
    timing = "first read" if args.first else "best of 3"
    print(
        f"list pages over {loaded.count:,} customers at or over {args.over:g} ms ({timing}), slowest first:"
    )
    for timed in slow:
        print(f"{timed.ms:9.1f} ms {timed.rows:4d} rows  {timed.listing}")
    print(f"{len(slow)} of {count} pages at or over {args.over:g} ms ({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
