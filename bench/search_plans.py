"""Search pages of every breadth over a loaded dataset: the plan zcontacts chooses (storage/substring_plans.py),
its time in process, and the time of the listing's own SQL it replaces (the only plan before session 27: the
trigram plan, or for a term of 1 or 2 characters a walk of the listing).

    python -m bench.search_plans [--size 1000000]

The benchmark's own search workload uses rare terms (a few customers each); these add the terms a person types:
an email domain's part in 40 % of the rows, a company kind in 8 %, a last name in 3 %, a first name whose rows sit
together in name order, a name filter for a term every .com address holds, deep pages, and terms of 1 or 2
characters (planned since session 28; in first and last names since session 29), and filters by value or
prefix read from their own index (session 32). Reads the dataset's file read-only, with no page memo."""

from __future__ import annotations

import argparse
import sqlite3
import time
from typing import Any, NamedTuple

from rich.console import Console
from rich.table import Table

from bench import data
from zcontacts.domain.listing import parse_list_query
from zcontacts.storage import run_plan, value_plan, walk_plan
from zcontacts.storage.contacts import (
    _by_filter_index,
    _planned_term,
    _shape,
    _sqlite_clauses,
    _sqlite_page_rows,
    _term_key,
    scans,
    sqlite_page,
    substring_plan,
    term_match,
)
from zcontacts.storage.database import Reader

LISTINGS = [
    "search_text=com",
    "search_text=com&page=50",
    "search_text=labs",
    "search_text=labs&page=5",
    "search_text=evans",
    "search_text=ivan",
    # Terms that begin many names (session 31, storage/run_plan.py): the run of names, late or early in the order.
    "search_text=ivan&page=5",
    "search_text=ivan&sort_order=D",
    "contact_name_contains=ivan",
    "search_text=iv",
    "search_text=ada",
    "email_contains=gmail",
    "company_name_contains=labs&sort_column=created_time&sort_order=D",
    "contact_name_contains=com",  # in every .com address, in no name: the index offers the wrong rows
    # Terms of 1-2 characters (no trigram of their own), rare and common; before session 28 each walked the
    # listing.
    "search_text=zq",
    "search_text=qz",
    "search_text=an",
    "search_text=xw",
    "search_text=q",
    "search_text=a",
    "contact_name_contains=q",
    "search_text=#",  # in no row
    # First and last names of 1-2 characters: planned since session 29 (migration 0011), walked before.
    "first_name_contains=zq",
    "first_name_contains=iv",
    "last_name_contains=zq",
    "last_name_contains=q",
    # Filters by value or prefix, read from their own index (migration 0013): the listing's SQL reads each
    # matching row to sort it, and in the order's reverse keeps reading them.
    "first_name=ivan",
    "first_name=ivan&sort_column=email&sort_order=D",
    "first_name_startswith=a&sort_order=D",
    "first_name_startswith=a&sort_column=created_time",
    "email_startswith=ivan&sort_column=created_time",
]


def _best_ms(read: Any, rounds: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(rounds):
        began = time.perf_counter()
        result = read()
        best = min(best, time.perf_counter() - began)
        if best > 0.5:  # the slow plan: once is enough
            break
    return best * 1000, result


class SearchPage(NamedTuple):
    """One listing's page: the plan chosen, its time, and the listing's own SQL's time and whether it read the same
    rows (None for deep pages, not compared: the trigram plan walks OFFSET there)."""

    listing: str
    kind: str
    ms: float
    sql_ms: float | None
    same: bool | None


def search_pages(loaded: data.Dataset) -> list[SearchPage]:
    """Each of LISTINGS and one of the benchmark's rare terms, read as served and by the trigram plan."""
    connection = sqlite3.connect(f"file:{loaded.path}?mode=ro", uri=True, check_same_thread=False)
    connection.execute("PRAGMA cache_size=-32768")  # as the served reader (ZCONTACTS_SQLITE_READ_CACHE_MB)
    reader = Reader(connection)
    pages = []
    try:
        rare = next((term for term in loaded.search_terms if len(term) >= 3), "absent")
        for listing in [*LISTINGS, f"search_text={rare}"]:
            query = parse_list_query([tuple(part.split("=", 1)) for part in listing.split("&")])  # type: ignore[misc]
            term = _planned_term(query)
            match = None if term is None else term_match(connection, term, _term_key(query))
            order = _sqlite_clauses(*_shape(query))[1]
            if walk_plan.applies(query):
                kind = "walk"  # its order walked or its matches sorted, by cost (storage/walk_plan.py)
            elif value_plan.merges(query):
                kind = "merged"  # the values' runs of the name part's index, merged (storage/value_plan.py)
            elif _by_filter_index(_shape(query)):
                kind = "index"  # the filter's own index sorts the page's ids (contacts._rows_last_sql)
            elif (
                value_plan.applies(query)
                and value_plan.read(reader, loaded.organization_id, query, order) is not None
            ):
                kind = "values"  # the name part's values that hold the term (storage/value_plan.py)
            elif term is None or match is None:
                kind = "scan" if scans(query) else "contains"  # the listing's own SQL: no plan chosen
            else:
                chosen = substring_plan(connection, query, match, term)
                run = run_plan.chosen_run(connection, loaded.organization_id, query, term, chosen)
                kind = chosen.kind if run is None else "run"
            served_ms, rows = _best_ms(lambda q=query: _sqlite_page_rows(reader, loaded.organization_id, q))
            old_ms, same = None, None
            if query.offset <= 2000:
                sql, parameters = sqlite_page(loaded.organization_id, query)
                old_ms, old_rows = _best_ms(lambda s=sql, p=parameters: connection.execute(s, p).fetchall())
                same = [row[0] for row in old_rows] == rows
            pages.append(SearchPage(listing, kind, served_ms, old_ms, same))
    finally:
        connection.close()
    return pages


def search_plans_table(count: int, pages: list[SearchPage]) -> Table:
    """The pages as a table."""
    table = Table(title=f"search pages over {count:,} customers (in process, best of 3, no page memo)")
    for column in ("listing", "plan", "ms", "listing's SQL ms", "same rows"):
        table.add_column(column, justify="left" if column in ("listing", "plan") else "right")
    for page in pages:
        old = "" if page.sql_ms is None else f"{page.sql_ms:,.1f}"
        same = "" if page.same is None else "yes" if page.same else "NO"
        table.add_row(page.listing, page.kind, f"{page.ms:,.1f}", old, same)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", type=int, default=1_000_000, help="customers in the dataset (loaded if needed)"
    )
    args = parser.parse_args()
    loaded = data.dataset(args.size)
    data.warm(loaded)  # as the benchmark does: every plan meets a warm page cache
    Console().print(search_plans_table(loaded.count, search_pages(loaded)))


if __name__ == "__main__":
    main()
