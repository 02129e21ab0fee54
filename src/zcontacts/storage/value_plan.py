"""The value plan: a first or last name substring filter read as the name part's values that hold the term.

`first_name_contains=iv` in name order has no index that serves it: the trigram index finds the term's rows by id,
so the page reads and sorts every one (24,947 over 1,000,000 customers: ~90 ms), and a walk of the name order
meets them late (first names do not begin names in general: storage/run_plan.py). But a name part often has few
distinct values, and its index (migration 0013: organization, name part, then the sorts' keys) lists them in
order: one seek per value finds them all (a skip-scan), Python keeps those that hold the term, and the page is
`name part IN (those)` sorted from the index's entries alone, its rows read last (as contacts._rows_last_sql):
~1-6 ms. With more than CAP distinct values the skip-scan gives up, and with more than MOST rows holding the
term its values are counted and left: the substring plans serve those pages (a broad term's page is found in a few
hundred rows of any order). The values (or that there are too many) are kept for the snapshot's state, until the
next commit."""

from __future__ import annotations

import json
from collections.abc import Hashable
from functools import lru_cache
from typing import Any, NamedTuple

from zcontacts.domain.listing import ListQuery
from zcontacts.storage.database import Reader
from zcontacts.storage.page_marks import seek_parameters, snapshot_marks
from zcontacts.storage.run_plan import past

FIELDS = ("first_name", "last_name")
# Distinct values a skip-scan reads at most (~2-4 µs each over 1,000,000 customers): more, and the column is
# too varied for a list of values to be short.
CAP = 512
# Index entries the page may sort at most (~0.35 µs each; counting them first costs ~0.05 µs each).
MOST = 50_000


class Seek(NamedTuple):
    """How a deep page reaches its listing's marks (storage/contacts.py, _deep_page), which it shares with the
    listing's other plans: the marks' key in the snapshot's facts, the clause that keeps the rows at or after a
    mark (its sort key under unary +, so SQLite keeps to the name part's index), and the columns of a mark."""

    listing: Hashable
    clause: str
    names: tuple[str, ...]


def page(
    reader: Reader, organization_id: str, query: ListQuery, order: str, seek: Seek | None = None
) -> list[bytes] | None:
    """The page's list rows (and the look-ahead row) by the plan that serves `query` (see `serves`), or None when
    it does not pay here. `order`: the listing's ORDER BY (storage/contacts.py, _sqlite_clauses); `seek`: a deep
    page's marks (see `read`)."""
    if merges(query):
        return merged(reader, organization_id, query)
    return read(reader, organization_id, query, order, seek)


def serves(query: ListQuery) -> bool:
    """A listing `page` may read: a name part's substring (`applies`) or its prefix in name order (`merges`)."""
    return applies(query) or merges(query)


def applies(query: ListQuery) -> bool:
    """A single first or last name substring filter (a status at most beside it), in an order the name part's
    index carries (all but the last change's)."""
    if query.search_text or len(query.filters) != 1 or query.sort_column == "last_modified_time":
        return False
    only = query.filters[0]
    return only.op == "contains" and only.field in FIELDS and bool(only.value)


def read(
    reader: Reader, organization_id: str, query: ListQuery, order: str, seek: Seek | None = None
) -> list[bytes] | None:
    """The page's list rows (and the look-ahead row), or None when the name part has more than CAP values or
    more than MOST of the organization's rows hold the term. `order`: the listing's ORDER BY
    (storage/contacts.py, _sqlite_clauses).

    `seek` (a deep page): the page is read from the listing's nearest mark at or before it, and leaves marks at
    its first row and its look-ahead row. SQLite's sorter for ORDER BY ... LIMIT ... OFFSET keeps every entry up
    to the page's last: page 50 of `last_name_contains=pat` by company over 1,000,000 customers held 10,000 of
    them (~22 ms, ~6 for page 1). From a mark it keeps a page's worth, so the page read again, or the next one,
    costs about what page 1 does."""
    only = query.filters[0]
    key = f"{only.field}_key"
    with reader.snapshot() as facts:
        found = ("name part values", organization_id, key)
        if found not in facts:
            facts[found] = values(reader, int(organization_id), key)
        every: list[str] | None = facts[found]
        if every is None:
            return None
        held = [value for value in every if only.value in value]
        if seek is None and _merges_runs(query, held):
            return _merged_page(reader, organization_id, query, key, held)
        holding = json.dumps(held)
        status = [query.status] if query.status is not None else []
        (entries,) = reader.fetch(_count_sql(key), [int(organization_id), holding, MOST + 1])[0]
        if entries > MOST:
            return None  # a broad term: the substring plans' walks find its page in a few hundred rows
        marks, rank, mark = None, 0, None
        if seek is not None:
            marks = snapshot_marks(facts, seek.listing, query.sort_order == "D")
            rank, mark = marks.nearest(query.offset)
        sought = seek_parameters(mark) if mark is not None else ()
        parameters: list[Any] = [int(organization_id), *status, holding, *sought]
        parameters += [query.per_page + 1, query.offset - rank]
        backwards = query.sort_column == "email" and query.sort_order == "D"
        sql = _page_sql(
            key,
            query.status is not None,
            order,
            backwards=backwards,
            seek=seek.clause if mark is not None and seek is not None else "",
            names=seek.names if seek is not None else (),
        )
        rows = reader.fetch(sql, parameters)
        if marks is not None:
            marks.add_page(query.offset, query.per_page, rows)
        return [row[0] for row in rows]


def values(reader: Reader, organization_id: int, key: str) -> list[str] | None:
    """The organization's distinct values of `key` in order, or None when there are more than CAP."""
    found = [row[0] for row in reader.fetch(_values_sql(key), [organization_id, CAP + 1])]
    return found if len(found) <= CAP else None


@lru_cache(maxsize=8)
def _values_sql(key: str) -> str:
    """A skip-scan of the name part's index: each value, then one seek past it, up to a bound."""
    first = f"SELECT {key} FROM contacts WHERE organization_id = ?1 ORDER BY {key} LIMIT 1"
    after = (
        f"SELECT {key} FROM contacts WHERE organization_id = ?1 AND {key} > v.value ORDER BY {key} LIMIT 1"
    )
    return (
        f"WITH RECURSIVE v(value, n) AS (SELECT ({first}), 1 "
        f"UNION ALL SELECT ({after}), n + 1 FROM v WHERE v.value IS NOT NULL AND n < ?2) "
        "SELECT value FROM v WHERE value IS NOT NULL"
    )


@lru_cache(maxsize=8)
def _count_sql(key: str) -> str:
    """How many of the organization's index entries (any status) hold one of the values, up to a bound."""
    entries = f"SELECT 1 FROM contacts WHERE organization_id = ? AND {key} IN (SELECT value FROM json_each(?)) LIMIT ?"
    return f"SELECT count(*) FROM ({entries})"


@lru_cache(maxsize=64)
def _page_sql(
    key: str,
    status: bool,
    order: str,
    *,
    backwards: bool = False,
    seek: str = "",
    names: tuple[str, ...] = (),
) -> str:
    """The page: the values' index entries sorted, then their rows read (unary + keeps the status indexes out, as
    in contacts._rows_last_sql). `seek`: the clause that starts it at a mark; `names`: the sort's columns, returned
    after each list row (a deep page leaves marks). `backwards` (email order descending): the entries read in the index's reverse
    order, in which, emails being made of names, they come to the sorter nearly in the page's (see
    contacts._ARRIVAL): `first_name_contains=iv` by email descending over 1,000,000 customers 20.4 -> 7.6 ms. Not
    in name order: a single value's entries are in it already, and SQLite then sorts nothing (0.1 ms)."""
    where = "contacts.organization_id = ?" + (" AND +contacts.status = ?" if status else "")
    where += f" AND contacts.{key} IN (SELECT value FROM json_each(?))"
    if seek:
        where += f" AND {seek}"
    if backwards:
        arrival = f"contacts.{key} DESC, contacts.contact_name_key DESC"
        matches = (
            "SELECT contacts.rowid AS id, contacts.email_key, contacts.contact_id FROM contacts "
            f"WHERE {where} ORDER BY {arrival} LIMIT -1"  # LIMIT -1 keeps the subquery and its ORDER BY
        )
        by = "matches.email_key DESC, matches.contact_id DESC"
        chosen = f"SELECT matches.id FROM ({matches}) AS matches ORDER BY {by} LIMIT ? OFFSET ?"
    else:
        chosen = f"SELECT contacts.rowid FROM contacts WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    columns = "".join(f", contacts.{name}" for name in names)
    return f"SELECT contacts.summary_doc{columns} FROM contacts WHERE contacts.rowid IN ({chosen}) ORDER BY {order}"


# ---- prefixes in name order -------------------------------------------------------------------------------------
# A prefix filter on a name part, in name order: its index holds each value's customers in name order, so the page
# is those runs merged (SQLite's MERGE of a compound ORDER BY, each side read lazily in index order) instead of every
# entry under the prefix sorted (`first_name_startswith=a`, 74,880 of 1,000,000: 21-78 ms; merged ~1 ms).
RUNS = 64  # values merged at most; more, and the entries are sorted (contacts._rows_last_sql)
# The merge steps over OFFSET's entries one by one (~0.1-0.2 µs each); deeper pages seek from marks instead.
MERGED_OFFSET = 10_000


def merges(query: ListQuery) -> bool:
    """A single first or last name prefix filter (a status at most beside it), in name order, on a page before
    MERGED_OFFSET."""
    if query.search_text or len(query.filters) != 1 or query.sort_column != "contact_name":
        return False
    if query.offset >= MERGED_OFFSET:
        return False
    only = query.filters[0]
    return only.op == "startswith" and only.field in FIELDS


def merged(reader: Reader, organization_id: str, query: ListQuery) -> list[bytes] | None:
    """The page's list rows (and the look-ahead row), or None when more than RUNS values start with the prefix."""
    only = query.filters[0]
    key = f"{only.field}_key"
    org = int(organization_id)
    with reader.snapshot():
        bounds = [only.value, past(only.value)]
        runs = [row[0] for row in reader.fetch(_prefixed_sql(key), [org, *bounds, RUNS + 1])]
        if len(runs) > RUNS:
            return None
        return _merged_page(reader, organization_id, query, key, runs)


def _merges_runs(query: ListQuery, values: list[str]) -> bool:
    """A substring's shallow page in name order is its values' runs merged (as a prefix's) when they are few,
    however many rows they hold: counting those first (up to MOST) and walking the name order when there are more
    took 25-29 ms for `first_name_contains=a` by name descending over 1,000,000 customers (its walk passes ~25,000
    `zed …` names, which hold no `a`); merged 0.8-3.3 ms. Deep pages (read with a seek) keep to the marks."""
    return query.sort_column == "contact_name" and query.offset < MERGED_OFFSET and len(values) <= RUNS


def _merged_page(
    reader: Reader, organization_id: str, query: ListQuery, key: str, runs: list[str]
) -> list[bytes]:
    """The page of the rows whose `key` is one of `runs`, their runs merged in name order (within a snapshot)."""
    if not runs:
        return []
    org = int(organization_id)
    status = [query.status] if query.status is not None else []
    parameters: list[Any] = [value for run in runs for value in (org, run, *status)]
    sql = _merged_sql(key, len(runs), query.status is not None, query.sort_order == "D")
    return [row[0] for row in reader.fetch(sql, [*parameters, query.per_page + 1, query.offset])]


@lru_cache(maxsize=8)
def _prefixed_sql(key: str) -> str:
    """The skip-scan of _values_sql, within [prefix, past(prefix))."""
    first = f"SELECT {key} FROM contacts WHERE organization_id = ?1 AND {key} >= ?2 AND {key} < ?3 ORDER BY {key} LIMIT 1"
    after = (
        f"SELECT {key} FROM contacts WHERE organization_id = ?1 AND {key} > v.value AND {key} < ?3 "
        f"ORDER BY {key} LIMIT 1"
    )
    return (
        f"WITH RECURSIVE v(value, n) AS (SELECT ({first}), 1 "
        f"UNION ALL SELECT ({after}), n + 1 FROM v WHERE v.value IS NOT NULL AND n < ?4) "
        "SELECT value FROM v WHERE value IS NOT NULL"
    )


@lru_cache(maxsize=256)
def _merged_sql(key: str, runs: int, status: bool, descending: bool) -> str:
    """The page: one run per value, merged in name order, then the page's rows read."""
    where = f"contacts.organization_id = ? AND contacts.{key} = ?" + (
        " AND +contacts.status = ?" if status else ""
    )
    run = f"SELECT contacts.rowid AS id, contacts.contact_name_key AS name FROM contacts WHERE {where}"
    direction = "DESC" if descending else "ASC"
    chosen = " UNION ALL ".join([run] * runs) + f" ORDER BY 2 {direction} LIMIT ? OFFSET ?"
    return (
        f"SELECT contacts.summary_doc FROM contacts WHERE contacts.rowid IN (SELECT id FROM ({chosen})) "
        f"ORDER BY contacts.contact_name_key {direction}"
    )
