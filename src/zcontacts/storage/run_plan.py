"""The run plan: a search page whose term begins many of the listing's sort keys.

People type the start of a name: `ivan` is in 24,947 of 1,000,000 customers' keys, each an "Ivan …", so in name
order they sit together, 40 % of the way in. A walk of the listing (storage/substring_plans.py) tests 400,000
entries before it meets them, and the trigram plan reads all 24,947 rows to sort them: 80-110 ms either way. But
the rows whose sort key starts with the term are one range of the listing's index (the run), and every one of
them holds the term in the key searched, when that key holds the sort key: a search's key is name, company, email
and phone joined (storage/contacts.py, `search_key`), and a name, company or email filter in its own order looks
in the sort key itself. So a page is the run, read in order from the index, merged with the term's rows outside
it (the leftovers): the candidates (trigram index and queue) not in the run, at most LEFTOVERS of them, each read
and confirmed on its row. The two sides are disjoint by their WHERE clauses and one snapshot reads both, so the
page is exactly the listing's, whatever the data; an estimate that is off costs time, never an answer."""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from typing import Any

from zcontacts.domain.listing import ListQuery
from zcontacts.storage import walk_plan
from zcontacts.storage.database import Reader
from zcontacts.storage.substring_plans import CANDIDATES, MEMBER, SCAN, TRIGRAM_PER_CANDIDATE, Plan, next_text

# The sorts whose key a term's run is a range of, and the key each sorts by.
SORT_KEYS = {"contact_name": "contact_name_key", "company_name": "company_name_key", "email": "email_key"}
# SQLite orders a BLOB after every text: the bound past every key, for a term no text follows.
_PAST_EVERY_KEY = b""


def past(term: str) -> str | bytes:
    """The least value past every key that starts with `term`: [term, past(term)) is exactly those keys (byte
    order). Not term + U+10FFFF, which keys holding U+10FFFF after the term pass."""
    after = next_text(term)
    return _PAST_EVERY_KEY if after is None else after


# Costs in µs over 1,000,000 customers (docs/PERFORMANCE.md, sessions 31 and 32). Counting: a run row 0.1, a
# candidate 0.18 (the FTS5 doclist). When more candidates than run rows leave some outside, finding which (an
# EXCEPT, which sorts both sides' ids): a run row 0.55, a candidate 0.2, and each leftover is read and confirmed
# at what the trigram plan pays a candidate.
COUNT_PER_RUN_ROW = 0.1
COUNT_PER_CANDIDATE = 0.18
APART_PER_RUN_ROW = 0.55
APART_PER_CANDIDATE = 0.2
LEFTOVERS = 2_000  # more, and the trigram plan or a walk serves the page
MOST = 100_000  # a longer run: setting its ids apart costs more than the plans it would replace
# A walk meets the run within this many rows from the listing's start (its direction's): it is quick, let it.
NEAR = 2_000
# A chosen plan estimated under this (µs) is not worth a look at the run (an index seek or two, ~20 µs).
WORTH = 500.0


def sort_key(query: ListQuery) -> str | None:
    """The column a planned listing (storage/contacts.py, _planned_term) is sorted by, when the key its term is
    looked for in holds it; None when the run plan does not apply."""
    key = SORT_KEYS.get(query.sort_column)
    if key is None:
        return None
    if query.search_text or query.filters[0].field == query.sort_column:
        return key
    return None


def read(
    reader: Reader, organization_id: str, query: ListQuery, term: str, key: str, chosen: Plan
) -> list[bytes] | None:
    """The page's list rows (and the look-ahead row) by the run plan, or None when another plan serves it better:
    the term starts few of the listing's keys, has many rows outside its run, or a walk meets its run soon. `key`:
    the column the term is looked for in; `chosen`: what storage/substring_plans.py chose (its estimates)."""
    if not chosen.match or not _may_run(query, chosen):
        return None  # told with no SQL: a planned page the run cannot serve pays no snapshot
    with reader.snapshot():  # the counts, the leftovers and the page: one state of the rows
        run = _counted_run(reader.connection, organization_id, query, term, chosen)
        if run is None:
            return None
        return page(reader, organization_id, query, term, key, chosen.match, run)


def chosen_run(
    connection: sqlite3.Connection, organization_id: str, query: ListQuery, term: str, chosen: Plan
) -> int | None:
    """How many rows the term's run holds, when the run plan should read the page instead of `chosen`."""
    return _counted_run(connection, organization_id, query, term, chosen) if _may_run(query, chosen) else None


def _may_run(query: ListQuery, chosen: Plan) -> bool:
    """What can be told with no SQL: the listing's key holds its sort key, the candidates are not far too many
    for a run, and the chosen plan is a walk (its estimate may be wrong) or not already cheap."""
    raw = chosen.candidates
    if sort_key(query) is None or not chosen.match or raw is None or raw > MOST + LEFTOVERS:
        return False
    return chosen.kind in (SCAN, MEMBER) or (chosen.cost or 0.0) >= WORTH


def _counted_run(
    connection: sqlite3.Connection, organization_id: str, query: ListQuery, term: str, chosen: Plan
) -> int | None:
    """The run's rows counted, when `worth` it (the caller has checked _may_run)."""
    sort = sort_key(query)
    assert sort is not None, "checked by _may_run"
    run = _run_rows(connection, organization_id, sort, term, MOST + 1)
    return run if worth(connection, organization_id, query, term, chosen, run) else None


def worth(
    connection: sqlite3.Connection, organization_id: str, query: ListQuery, term: str, chosen: Plan, run: int
) -> bool:
    """Whether the run plan is likely cheaper than `chosen`, for a run of `run` rows."""
    sort = sort_key(query)
    raw = chosen.candidates or 0.0
    if sort is None or run == 0 or run > MOST or raw - run > LEFTOVERS:
        return False
    if chosen.kind in (SCAN, MEMBER) and run >= raw / 2:
        # Most of the term's rows are in the run: the walk's estimate (rows spread along the order) is wrong
        # unless the run comes early in the walk.
        return _before_run(connection, int(organization_id), query, sort, term) >= NEAR
    outside = max(0.0, raw - run)
    cost = COUNT_PER_RUN_ROW * run + COUNT_PER_CANDIDATE * raw
    if outside:
        cost += APART_PER_RUN_ROW * run + APART_PER_CANDIDATE * raw + TRIGRAM_PER_CANDIDATE * outside
    return cost < (chosen.cost or 0.0)


def page(
    reader: Reader, organization_id: str, query: ListQuery, term: str, key: str, match: str, run: int
) -> list[bytes] | None:
    """The page by the run plan (`match`: the FTS5 query of the term's candidates in `key`; `run`: how many of
    the organization's rows the run holds, counted in the caller's snapshot); None when more than LEFTOVERS
    candidates lie outside the run."""
    sort = sort_key(query)
    assert sort is not None, "the run plan serves only the listings sort_key names"
    connection = reader.connection
    org = int(organization_id)
    bounds = [term, past(term)]
    # Every run row holds the term, so it is a candidate (indexed or queued): the candidates outside the run
    # number at most #candidates - #run. None of them when the two are equal; too many for the run plan when
    # that difference is over LEFTOVERS; otherwise set the run's ids apart to find them.
    (candidates,) = connection.execute(_CANDIDATE_COUNT, [match]).fetchone()
    if candidates - run > LEFTOVERS:
        return None
    leftovers: list[Any] = []
    if candidates != run:
        leftovers = connection.execute(_leftovers_sql(sort), [match, org, *bounds]).fetchall()
    listed = "[" + ",".join(str(row[0]) for row in leftovers) + "]"
    status = [query.status] if query.status is not None else []
    parameters: list[Any] = [org, *status, *bounds, listed, org, *status, *bounds, term, 0]
    sql = _page_sql(sort, key, query.status is not None, query.sort_order == "D")
    return [row[0] for row in connection.execute(sql, [*parameters, query.per_page + 1, query.offset])]


def _run_rows(connection: sqlite3.Connection, organization_id: str, sort: str, term: str, most: int) -> int:
    """How many of the organization's rows (any status) the term's run holds, up to `most`."""
    parameters = [int(organization_id), term, past(term), most]
    sql = walk_plan.count_sql(sort.removesuffix("_key"), "startswith")
    return int(connection.execute(sql, parameters).fetchone()[0])


_CANDIDATE_COUNT = f"SELECT count(*) FROM ({CANDIDATES.format(trigrams='?')})"


def _before_run(connection: sqlite3.Connection, org: int, query: ListQuery, sort: str, term: str) -> int:
    """How many of the listing's rows a walk passes before the run (its direction's), up to NEAR."""
    status = " AND status = ?" if query.status is not None else ""
    side, bound = ("<", term) if query.sort_order != "D" else (">=", past(term))
    sql = (
        f"SELECT count(*) FROM (SELECT 1 FROM contacts WHERE organization_id = ?{status} AND {sort} {side} ? "
        "LIMIT ?)"
    )
    parameters = [org, *([query.status] if query.status is not None else []), bound, NEAR]
    (count,) = connection.execute(sql, parameters).fetchone()
    return int(count)


@lru_cache(maxsize=8)
def _leftovers_sql(sort: str) -> str:
    """The candidates' ids not among the run's (the organization's, any status), each once. They may belong to
    other organizations: the page's side keeps the listing's. EXCEPT sorts both sides, where NOT IN would probe
    a temporary index of the run's ids for each candidate: 19 against 31 ms for 25,000 of each
    (docs/PERFORMANCE.md, session 31); the caller's counts bound how many it returns."""
    run = f"SELECT contact_id FROM contacts WHERE organization_id = ? AND {sort} >= ? AND {sort} < ?"
    return f"{CANDIDATES.format(trigrams='?')} EXCEPT {run}"


@lru_cache(maxsize=64)
def _page_sql(sort: str, key: str, status: bool, descending: bool) -> str:
    """The page: the run in the listing's order merged (SQLite's MERGE of a compound ORDER BY, each side in
    order, stopping at the LIMIT) with the leftovers that hold the term, outside the run. Ties in a sort that is
    not unique (company, email) go by id, as the listing's own SQL orders them. The merge reads ids and sort keys
    from the run's index alone, and only the page's list rows are read after it: OFFSET steps over index entries,
    not rows (page 50 of `search_text=ivan` by email over 1,000,000, 9,800 rows in: 74-81 ms reading each row's
    list row, a few ms now)."""
    where = "contacts.organization_id = ?" + (" AND contacts.status = ?" if status else "")
    inside = f"contacts.{sort} >= ? AND contacts.{sort} < ?"
    # The rowid finds the page's rows afterwards; ties in a sort go by contact id.
    columns = f"contacts.rowid AS row, contacts.contact_id AS id, contacts.{sort} AS sort_key"
    direction = "DESC" if descending else "ASC"

    def order(table: str) -> str:
        # Names are unique in an organization: no id tie-break, as the listing's own SQL.
        tie = "" if sort == "contact_name_key" else f", {table}id {direction}"
        return f"{table}sort_key {direction}{tie}"

    page = (
        f"SELECT {columns} FROM contacts WHERE {where} AND {inside} "
        f"UNION ALL SELECT {columns} FROM contacts WHERE contacts.contact_id IN (SELECT value FROM json_each(?)) "
        f"AND {where} AND NOT ({inside}) AND instr(contacts.{key}, ?) > ? "
        f"ORDER BY {order('')} LIMIT ? OFFSET ?"
    )
    return (
        f"SELECT contacts.summary_doc FROM ({page}) AS page JOIN contacts ON contacts.rowid = page.row "
        f"ORDER BY {order('page.')}"
    )
