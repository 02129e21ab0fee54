"""The walk plan: a filter's page in time order, found by walking the time's index and testing each entry.

A filter by value or prefix (`phone_startswith=+1-2`, `company_name_startswith=a`, `first_name=ivan`) in creation
or last-change order has two ways to its page. Its own index finds every matching row, and they are sorted by
time: each row read (~3.5 µs) since the filter's index does not carry the time (0013's first name, last name,
email and phone indexes carry the creation time: ~0.35 µs an entry). Over 1,000,000 customers that was 100-430 ms
for 25,000-250,000 matches. Or the time's index is walked in order until the page is full: since migration 0014
it carries the status and every filter key, so each entry is tested on the index alone (~0.12 µs), and a filter
one row in 40 passes fills page 1 after ~8,000 entries (~1 ms). The walk costs the more the rarer the filter,
the sort the more common: counting the matches (up to CAP, on the filter's own index) and the customers
(the trigram index's count) tells which is cheaper. A walk's estimate assumes the matches are spread along the
order; when they sit together late in it the walk overruns its budget and the page is sorted instead (the
listing is remembered as uneven, as storage/substring_plans.py does for its walks)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from zcontacts.domain.listing import ListQuery

ORDERS = ("created_time", "last_modified_time")
COUNTED = ("eq", "startswith")
# Matches counted at most (~0.05 µs each on the filter's index): past it, a walk finds a page within ~1 ms.
CAP = 20_000
# Costs in seconds, measured over 1,000,000 customers on a 2-core machine (bench/page_audit.py).
WALK_PER_ENTRY = 0.12e-6
SORT_PER_ROW = 3.5e-6  # a match's row read to learn its time, then sorted
SORT_PER_ENTRY = 0.35e-6  # a match sorted from its filter index's entry (it carries the creation time)
# A walk gets three times its estimate, at least MIN_BUDGET and half the sort's, before the sort takes over.
MIN_BUDGET = 0.002


class Choice(NamedTuple):
    """A walk and how long it may take (seconds), or a sort (budget None)."""

    budget: float | None
    walk: float
    sort: float


def applies(query: ListQuery) -> bool:
    """A listing in time order with a filter by value or prefix among its filters, and no search."""
    if query.search_text or query.sort_column not in ORDERS:
        return False
    return any(f.op in COUNTED for f in query.filters)


def counted(query: ListQuery) -> tuple[str, str, str]:
    """The filter whose matches are counted (field, op, value): the first by value, else the first by prefix."""
    found = min((f for f in query.filters if f.op in COUNTED), key=lambda f: COUNTED.index(f.op))
    return found.field, found.op, found.value


@lru_cache(maxsize=32)
def count_sql(field: str, op: str) -> str:
    """Parameters: organization, the value (or the prefix and its end), CAP + 1. Served by the key's own index."""
    key = f"contacts.{field}_key"
    test = f"{key} = ?" if op == "eq" else f"{key} >= ? AND {key} < ?"
    return (
        f"SELECT count(*) FROM (SELECT 1 FROM contacts WHERE contacts.organization_id = ? AND {test} LIMIT ?)"
    )


def choose(matches: int, rows: int, wanted: int, *, entries_sort: bool) -> Choice:
    """Walk or sort, for a page whose last row is the `wanted`-th of `matches` (counted up to CAP + 1) among `rows`
    customers. `entries_sort`: the sort reads the filter index's entries, not rows (contacts._by_filter_index)."""
    sort = matches * (SORT_PER_ENTRY if entries_sort else SORT_PER_ROW)
    if matches == 0:
        return Choice(None, 0.0, 0.0)
    walk = wanted * max(rows, matches) / matches * WALK_PER_ENTRY
    if walk >= sort:
        return Choice(None, walk, sort)
    return Choice(max(3 * walk, sort / 2, MIN_BUDGET), walk, sort)
