"""The walk plan: a filter's page found by walking its order's index and testing each entry there.

A filter by value or prefix (`phone_startswith=+1-2`, `company_name_startswith=a`, `first_name=ivan`) in an order
its own index does not hold has two ways to its page. Its own index finds every matching row, and they are sorted:
each row read to learn its sort key (~3.5 µs), or for the first name, last name, email and phone indexes, which
carry the name, company, email and creation time (migration 0013), each entry sorted (~0.35 µs). Over 1,000,000
customers that was 100-430 ms for 25,000-250,000 matches. Or the order's index is walked until the page is full:
since migrations 0014 and 0015 each order's walked index carries the status and every filter key, so each entry is
tested on the index alone (~0.12 µs; ~0.4 µs in the name order's, which holds the list rows), and a filter one row
in 40 passes fills page 1 after ~8,000 entries (~1 ms). The walk costs the more the rarer the filter, the sort the
more common: counting the matches (up to CAP, on the filter's own index) and the customers (the trigram index's
count) tells which is cheaper. A walk's estimate assumes the matches are spread along the order; when they sit
together late in it the walk overruns its budget and the page is sorted instead (the listing is remembered as
uneven, as storage/substring_plans.py does for its walks). Where a filter's own index holds its matches in the
listing's order (`first_name=ivan` by name, `email_startswith=a` by email) there is nothing to choose."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from zcontacts.domain.listing import STATUS_FILTERS, ListQuery

COUNTED = ("eq", "startswith")
# (field, op) pairs whose own index holds their matches in the order's sequence: a page is its next entries.
ORDERED = {
    "contact_name": {("first_name", "eq"), ("last_name", "eq"), ("phone", "eq"), ("company_name", "eq"),
                     ("contact_name", "eq"), ("contact_name", "startswith")},
    "company_name": {("company_name", "eq"), ("company_name", "startswith")},
    "email": {("email", "eq"), ("email", "startswith")},
}  # fmt: skip
# The sort keys a filter's own index carries (migrations 0013-0015), so its matches sort on their entries alone.
_FILTER_SORTS = {"contact_name", "company_name", "email", "created_time"}
CARRIED_SORTS = {
    "first_name": _FILTER_SORTS,
    "last_name": _FILTER_SORTS,
    "phone": _FILTER_SORTS,
    "email": _FILTER_SORTS,
    "contact_name": {"contact_name", "company_name", "email"},  # the name order's page index
    "company_name": {"contact_name", "company_name", "email"},  # the company order's
}
# Matches counted at most (~0.05 µs each on the filter's index): past it, a walk finds a page within ~1 ms.
CAP = 20_000
# Costs in seconds, measured over 1,000,000 customers on a 2-core machine (bench/page_audit.py).
WALK_PER_ENTRY = 0.12e-6
WALK_PER_WIDE_ENTRY = 0.4e-6  # the name order's index, whose entries hold the list rows
SORT_PER_ROW = 3.5e-6  # a match's row read to learn its sort key, then sorted
SORT_PER_ENTRY = 0.35e-6  # a match sorted from its filter index's entry (it carries the sort key)
# Past CAP, the walk's estimate is its most and the sort's its least (`first_name_startswith=a`: 74,880 matches
# counted as 20,001): a walk of at most this is taken whatever the sort's least.
WALK_CEILING = 0.025
# A walk gets three times its estimate, at least MIN_BUDGET and half the sort's, before the sort takes over.
MIN_BUDGET = 0.002


class Choice(NamedTuple):
    """A walk and how long it may take (seconds), or a sort (budget None)."""

    budget: float | None
    walk: float
    sort: float


def applies(query: ListQuery) -> bool:
    """A listing with a filter by value or prefix among its filters, none of which its own index holds in the
    listing's order, and no search."""
    if query.search_text or ordered([(f.field, f.op) for f in query.filters], query.sort_column):
        return False
    return any(f.op in COUNTED for f in query.filters)


def sorts_entries(query: ListQuery) -> bool:
    """Whether the matches of a listing's one filter sort on its own index's entries alone (see CARRIED_SORTS)."""
    if len(query.filters) != 1:
        return False
    return query.sort_column in CARRIED_SORTS.get(query.filters[0].field, set())


def ordered(filters: list[tuple[str, str]], sort_column: str) -> bool:
    """Whether one of `filters` (field, op) has its matches in `sort_column`'s order in its own index."""
    held = ORDERED.get(sort_column, set())
    return any(pair in held for pair in filters)


def counted(query: ListQuery) -> tuple[str, str, str]:
    """The filter whose matches are counted (field, op, value): the first by value, else the first by prefix."""
    found = min((f for f in query.filters if f.op in COUNTED), key=lambda f: COUNTED.index(f.op))
    return found.field, found.op, found.value


# Keys with a status index (organization, status, key, id): the narrowest index that holds them, read for both
# statuses. Their own are wider: the company's order index carries every key and the search key, the email's too
# (`company_name_startswith=iv`, 35,604 entries over 1,000,000 customers: 7.0 -> 2.6 ms; `email_startswith=ivan`
# 4.5 -> 3.6). A name's unique index is as narrow. A row of another status (none is written) would go uncounted:
# an estimate here, storage/run_plan.py and storage/prefix_plan.py take a short count as rows outside, and
# storage/band_plan.py counts an email prefix's rows along the email index instead.
BY_STATUS = {"company_name", "email"}
_BOTH_STATUSES = "contacts.status IN ({}) AND ".format(
    ", ".join(f"'{s}'" for s in STATUS_FILTERS.values() if s)
)


@lru_cache(maxsize=32)
def count_sql(field: str, op: str) -> str:
    """Parameters: organization, the value (or the prefix and its end), a bound. Served by the key's own index, or
    the status indexes (BY_STATUS)."""
    key = f"contacts.{field}_key"
    test = f"{key} = ?" if op == "eq" else f"{key} >= ? AND {key} < ?"
    statuses = _BOTH_STATUSES if field in BY_STATUS else ""
    return (
        "SELECT count(*) FROM (SELECT 1 FROM contacts "
        f"WHERE contacts.organization_id = ? AND {statuses}{test} LIMIT ?)"
    )


def choose(
    matches: int, rows: int, wanted: int, *, entries_sort: bool, wide: bool = False, page: int = 201
) -> Choice:
    """Walk or sort, for a page of `page` rows whose last is the `wanted`-th of `matches` (counted up to CAP + 1)
    among `rows` customers. `entries_sort`: the sort reads the filter index's entries, not rows (CARRIED_SORTS);
    `wide`: the walk is of the name order's index."""
    sort = matches * (SORT_PER_ENTRY if entries_sort else SORT_PER_ROW)
    if matches == 0:
        return Choice(None, 0.0, 0.0)
    walked = wanted * max(rows, matches) / matches
    # The entries walked, then the page's rows read (a skipped row is never read).
    walk = walked * (WALK_PER_WIDE_ENTRY if wide else WALK_PER_ENTRY) + page * SORT_PER_ROW
    capped = matches > CAP  # the sort's estimate is its least, the walk's its most
    if walk >= (max(sort, WALK_CEILING) if capped else sort):
        return Choice(None, walk, sort)
    return Choice(max(3 * walk, sort if capped else sort / 2, MIN_BUDGET), walk, sort)
