"""The contacts repository: the one place contact rows (and their rendered JSON) are read and written."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    column,
    delete,
    exists,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    text,
    true,
    union,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from zcontacts.domain.contacts import ALL_CHILDREN, Change, ChildRows, duplicate_name, name_key
from zcontacts.domain.history import HistoryRow
from zcontacts.domain.ids import is_id
from zcontacts.domain.listing import SEARCH_SEPARATOR, FieldFilter, ListQuery
from zcontacts.domain.schemas import AddressDetail, Contact, ContactRecord, decode_record, encode, summary_of
from zcontacts.storage import (
    band_plan,
    ids,
    postgres_pages,
    prefix_plan,
    run_plan,
    search_index,
    substring_plans,
    value_plan,
    walk_plan,
)
from zcontacts.storage.database import Database, Reader
from zcontacts.storage.page_marks import (
    MOVES_KEY,
    Marks,
    Move,
    Position,
    seek_parameters,
    snapshot_marks,
)
from zcontacts.storage.prepared import Prepared, Runner
from zcontacts.storage.substring_plans import Plan
from zcontacts.storage.tables import (
    TRIGRAM_KEYS,
    contact_addresses,
    contact_custom_fields,
    contact_history,
    contact_persons,
    contacts,
)

_SORT_COLUMNS = {
    "contact_name": contacts.c.contact_name_key,
    "company_name": contacts.c.company_name_key,
    "email": contacts.c.email_key,
    "created_time": contacts.c.created_at_ms,
    "last_modified_time": contacts.c.updated_at_ms,
}
_FILTER_COLUMNS = {
    "contact_name": contacts.c.contact_name_key,
    "company_name": contacts.c.company_name_key,
    "email": contacts.c.email_key,
    "phone": contacts.c.phone_key,
    "first_name": contacts.c.first_name_key,
    "last_name": contacts.c.last_name_key,
}
_CANDIDATES = substring_plans.CANDIDATES
# The same, for candidates already found (storage/substring_plans.py): a JSON array of ids.
_LISTED = (
    "SELECT value FROM json_each(?) "
    "UNION ALL SELECT contact_id FROM contacts_fts_pending WHERE command IS NULL"
)
_FTS_MATCH = text(_CANDIDATES.format(trigrams=":p_trigrams")).columns(column("rowid", BigInteger))


# ---- the hot reads ---------------------------------------------------------------------------------------
# get and list are most of the traffic. On SQLite they run as plain SQL on the database's raw reader (see
# Database.fetch), built here once per query shape; tests check it is exactly the SQL that list_statement
# compiles to, so the query plans tested on list_statement are the plans served. PostgreSQL keeps the
# SQLAlchemy path in a worker thread, where the network dwarfs these microseconds.

# Built once: SQLAlchemy compiles it on first use and finds it in its cache afterwards.
_GET_DOC = select(contacts.c.doc).where(
    contacts.c.contact_id == bindparam("contact_id"),
    contacts.c.organization_id == bindparam("organization_id"),
)
# The same statement as SQLite text (a test checks they match).
_DOC_SQL = (
    "SELECT contacts.doc \nFROM contacts \nWHERE contacts.contact_id = ? AND contacts.organization_id = ?"
)
# The get-by-id route's read: the stored JSON and the row version its ETag is made of.
_GET_DOC_VERSION = select(contacts.c.doc, contacts.c.version).where(
    contacts.c.contact_id == bindparam("contact_id"),
    contacts.c.organization_id == bindparam("organization_id"),
)
_DOC_VERSION_SQL = (
    "SELECT contacts.doc, contacts.version \nFROM contacts \n"
    "WHERE contacts.contact_id = ? AND contacts.organization_id = ?"
)


async def read_doc(database: Database, organization_id: str, contact_id: int) -> bytes | None:
    """The stored JSON of one contact, or None (the get-by-id hot path)."""
    if database.inline:
        return ContactsRepo(reader=database.reader()).get_doc(organization_id, contact_id)
    return await database.read(
        lambda connection: ContactsRepo(connection).get_doc(organization_id, contact_id)
    )


async def read_versioned_doc(
    database: Database, organization_id: str, contact_id: int
) -> tuple[bytes, int] | None:
    """The stored JSON of one contact and its row version, or None (the get-by-id hot path)."""
    if database.inline:
        return ContactsRepo(reader=database.reader()).get_versioned_doc(organization_id, contact_id)
    return await database.read(
        lambda connection: ContactsRepo(connection).get_versioned_doc(organization_id, contact_id)
    )


# Scans queue for two threads rather than take every core; the threads live as long as the process, so each
# database's scan readers (one per thread, each holding a connection) stay two at most.
_SCAN_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="zcontacts-scan")


async def read_page(database: Database, organization_id: str, query: ListQuery) -> list[bytes]:
    """Stored list rows of one page, plus one more row when a next page exists (the list hot path)."""
    if query.matches_nothing:
        return []
    if database.inline:
        if scans(query):
            # A substring under 3 characters has no trigram of its own: its page may read every row of the
            # organization (0.1-5 s over a million: beside another filter, or a term with too many trigrams
            # or candidates). Read it on a scan thread (sqlite3 lets go of the GIL while SQLite works)
            # so the event loop goes on serving everyone else meanwhile.
            def scan() -> list[bytes]:
                with database.scan_reader() as reader:
                    return ContactsRepo(reader=reader).list_summaries(organization_id, query)

            return await asyncio.get_running_loop().run_in_executor(_SCAN_THREADS, scan)
        return ContactsRepo(reader=database.reader()).list_summaries(organization_id, query)
    return await database.read(
        lambda connection: ContactsRepo(connection).list_summaries(organization_id, query)
    )


def sqlite_page(organization_id: str, query: ListQuery) -> tuple[str, list[Any]]:
    """The SQLite text and parameters of `list_statement(organization_id, query)`."""
    return _page_sql(_shape(query)), [
        *_filter_parameters(organization_id, query),
        query.per_page + 1,
        query.offset,
    ]


@lru_cache(maxsize=512)
def _page_sql(shape: Shape, *, keyed: bool = False) -> str:
    """A page of a listing shape: its WHERE and ORDER BY, then LIMIT and OFFSET (as list_statement compiles).
    `keyed`: each row followed by its sort key (_sort_key_columns)."""
    where, order = _sqlite_clauses(*shape)
    return (
        f"SELECT contacts.summary_doc{_sort_key_columns(shape, keyed)} \nFROM contacts \nWHERE {where} ORDER BY {order}\n "
        "LIMIT ? OFFSET ?"
    )


def _sort_key_columns(shape: Shape, keyed: bool) -> str:
    """The sort key's columns after a page's list row, when `keyed`: a deep page leaves marks (_marking_page)."""
    return "".join(f", contacts.{name}" for name in _sort_names(shape[3])) if keyed else ""


def _shape(query: ListQuery) -> Shape:
    """What the SQL text of a listing depends on (its parameters aside)."""
    return (
        query.status is not None,
        tuple((f.field, _SCAN if f.op == "contains" and _short(f.value) else f.op) for f in query.filters),
        (_SCAN if _short(query.search_text) else "contains") if query.search_text else "",
        query.sort_column,
        query.sort_order,
    )


# FTS5's trigram index serves substrings of 3 characters or more; shorter ones would scan it anyway, and
# SQLite 3.40 answers some of them wrongly (GLOB '*éa*' finds nothing). In a listing's own SQL they scan the
# organization's rows; on the hot reader most are planned from the index's vocabulary (_planned_page).
_SCAN = substring_plans.SCAN


def _short(value: str) -> bool:
    return len(value) < 3


def scans(query: ListQuery) -> bool:
    """True when a listing holds a substring filter or search too short for the trigram index."""
    if query.search_text and _short(query.search_text):
        return True
    return any(f.op == "contains" and _short(f.value) for f in query.filters)


def _filter_parameters(organization_id: str, query: ListQuery, plan: Plan | None = None) -> list[Any]:
    """Parameters of the WHERE clause, in its order: of `_shape(query)`, or with its one substring read by
    `plan` (see _planned_term)."""
    parameters: list[Any] = [int(organization_id)]
    if query.status is not None:
        parameters.append(query.status)
    for field_filter in query.filters:
        if field_filter.op == "startswith":
            parameters += [field_filter.value, run_plan.past(field_filter.value)]
        elif field_filter.op == "contains":
            parameters += _contains_parameters(field_filter.value, f"{field_filter.field}_key", plan)
        else:
            parameters.append(field_filter.value)
    if query.search_text:
        parameters += _contains_parameters(query.search_text, "search_key", plan)
    return parameters


def _contains_parameters(value: str, key: str, plan: Plan | None = None) -> list[Any]:
    """Parameters of a substring test of `value` in the `key` column (see _SUBSTRING_IN), read by `plan`."""
    if plan is None:
        return [value, 0] if _short(value) else [_trigram_query(value, key), value, 0]
    if plan.kind == _SCAN:
        return [value, 0]
    return [plan.listed or plan.match or _trigram_query(value, key), value, 0]


def _planned_term(query: ListQuery) -> str | None:
    """The substring a listing's plan is chosen for (storage/substring_plans.py): its only one, with no other
    filter but status (filters by value make listings short), of 3 or more characters, or shorter (see
    substring_plans.short_query). None: no choice."""
    if any(f.op != "contains" for f in query.filters):
        return None
    terms = [f.value for f in query.filters]
    if query.search_text:
        terms.append(query.search_text)
    if len(terms) != 1 or not terms[0]:
        return None
    return terms[0]


def _term_key(query: ListQuery) -> str:
    """The column the one substring of a planned listing (see _planned_term) is looked for in."""
    return "search_key" if query.search_text else f"{query.filters[0].field}_key"


def _with_plan(shape: Shape, kind: str) -> Shape:
    """`shape` with its one substring (see _planned_term) read by plan `kind`."""
    status, filters, search, sort_column, sort_order = shape
    kind = _WALKING.get(kind, kind)
    if search:
        return status, filters, kind, sort_column, sort_order
    return status, tuple((field, kind) for field, _ in filters), search, sort_column, sort_order


# Filter ops of planned shapes beyond the listing's own (eq, startswith and the substring plans' kinds), all with
# a unary + on the status, so SQLite takes no status index: a walk's (storage/walk_plan.py) test the key with a
# unary + too, so the order's index is walked in order; a sort's seek the filter's own index.
_WALK_EQ, _WALK_PREFIX, _SORT_EQ, _SORT_PREFIX = "walk_eq", "walk_startswith", "sort_eq", "sort_startswith"
# A substring filter's or a search's walks (storage/substring_plans.py): each order's walked index carries its key
# and the status (migrations 0012 and 0014-0016), so no status index may be taken instead.
_WALK_SCAN, _WALK_MEMBER = "walk_scan", "walk_member"
_WALKING = {substring_plans.SCAN: _WALK_SCAN, substring_plans.MEMBER: _WALK_MEMBER}
_PLANNED_OPS = (_WALK_EQ, _WALK_PREFIX, _SORT_EQ, _SORT_PREFIX, _WALK_SCAN, _WALK_MEMBER)


def _planned_ops(shape: Shape, ops: dict[str, str]) -> Shape:
    """`shape` with its filters by value and prefix tested by `ops` (_WALKED or _SORTED)."""
    status, filters, search, sort_column, sort_order = shape
    return status, tuple((field, ops.get(op, op)) for field, op in filters), search, sort_column, sort_order


_SORTED = {"eq": _SORT_EQ, "startswith": _SORT_PREFIX}
# A walk tests substrings on the index entry alone, never with the trigram index.
_WALKED = {"eq": _WALK_EQ, "startswith": _WALK_PREFIX, "contains": substring_plans.SCAN}


@lru_cache(maxsize=512)
def _sqlite_clauses(
    status: bool, filters: tuple[tuple[str, str], ...], search: str, sort_column: str, sort_order: str
) -> tuple[str, str]:
    """WHERE and ORDER BY of a listing shape, exactly as SQLAlchemy compiles list_statement for SQLite."""
    conditions = ["contacts.organization_id = ?"]
    if status:
        planned = search in _PLANNED_OPS or any(op in _PLANNED_OPS for _, op in filters)
        conditions.append("+contacts.status = ?" if planned else "contacts.status = ?")
    for field, op in filters:
        key = f"{field}_key"
        if op in ("startswith", _SORT_PREFIX):
            conditions.append(f"contacts.{key} >= ? AND contacts.{key} < ?")
        elif op == _WALK_PREFIX:
            conditions.append(f"+contacts.{key} >= ? AND +contacts.{key} < ?")
        elif op == _WALK_EQ:
            conditions.append(f"+contacts.{key} = ?")
        elif op in _SUBSTRING_IN:
            conditions.append(_SUBSTRING_IN[op].format(key=key))
        else:
            conditions.append(f"contacts.{key} = ?")
    if search:
        conditions.append(_SUBSTRING_IN[search].format(key="search_key"))
    direction = "DESC" if sort_order == "D" else "ASC"
    sort = _SORT_COLUMNS[sort_column].name
    # As list_statement: names are unique per organization, so a name sort has no id tie-break.
    if _unique_sort(sort_column):
        return " AND ".join(conditions), f"contacts.{sort} {direction}"
    return " AND ".join(conditions), f"contacts.{sort} {direction}, contacts.contact_id {direction}"


# ---- deep pages ------------------------------------------------------------------------------------------
# OFFSET steps over every skipped row: page 5,000 of a million customers costs ~80 ms however good the index.
# So a reader remembers "marks" (storage/page_marks.py): a mark is a row's (sort key, id) and how many rows of
# the listing come before it, found every PAGE_MARK_EVERY rows. A deep page seeks to the nearest mark at or
# before its first row and skips the rest with OFFSET; a missing mark is found from the nearest earlier one the
# same way. The rows, their order (ties by id) and the look-ahead row are exactly those of the plain OFFSET
# query, read from one snapshot. Marks of listings with no filter but status follow this process's writes
# (MarkLedger); any other commit, and for other listings any commit, drops them, and the next deep page costs
# what OFFSET costs once. A name is unique in its organization, so a name sort's mark is the name alone:
# finding it walks the narrow unique index, not the wide one that carries list rows (0.25 → 0.08 s for the
# last mark of 1,000,000).
PAGE_MARK_EVERY = 200

Shape = tuple[bool, tuple[tuple[str, str], ...], str, str, str]


def _sqlite_page_rows(reader: Reader, organization_id: str, query: ListQuery) -> list[bytes]:
    """A page's stored list rows, plus the look-ahead row, read on the hot reader."""
    shape = _shape(query)
    if value_plan.serves(query):
        rows = value_plan.page(
            reader, organization_id, query, _sqlite_clauses(*shape)[1], _value_seek(organization_id, query)
        )
        if rows is not None:
            return rows
    if walk_plan.applies(query):
        return _walked_page(reader, organization_id, query, shape)
    term = _planned_term(query)
    if term is not None:
        rows = _planned_page(reader, organization_id, query, shape, term)
        if rows is not None:
            return rows
        if query.status is not None:
            rows = _common_walk(reader, organization_id, query, shape)
            if rows is not None:
                return rows
    return _read_page(reader, organization_id, query, shape, None)


# A short, common term's listing with a status is walked on the order's own index when the status holds at least
# this share of the customers: a walk tests ~0.2 µs an entry, of which this share has the status, where the status's
# own index reads each row there (~3.5 µs) to test the term.
COMMON_STATUS = 0.06
_STATUS_ROWS = (
    "SELECT count(*) FROM (SELECT 1 FROM contacts WHERE organization_id = ? AND status = ? LIMIT ?)"
)


def _common_walk(reader: Reader, organization_id: str, query: ListQuery, shape: Shape) -> list[bytes] | None:
    """A short term in most rows with a status (see _planned_page's None): the page by a walk of the order's own
    index, whose entries carry every key and the status, when the status is common (COMMON_STATUS; counted on its
    index, kept a while across commits: Reader.estimate); None for a rare one, whose own index, which SQLite takes
    for the listing's SQL, serves better. That SQL reads each row there to test the term: `first_name_contains=a`
    by email descending with `Status.Active` over 1,000,000 customers, whose first names with an "a" come late in
    that order, 95-146 ms, against 12 ms walked; `Status.Inactive`, which no customer there has, 5 ms, against
    250 ms walked."""
    least = int(COMMON_STATUS * search_index.indexed_rows(reader.connection)) + 1
    # Counted up to the power of two above `least`, and kept under that bound rather than `least` itself, which
    # moves with every batch of creates or deletes the trigram index takes in: a count up to the bound decides
    # for every `least` under it.
    bound = 1 << least.bit_length()
    counted = ("status rows", organization_id, query.status, bound)
    rows = reader.estimate(
        counted, lambda: int(reader.fetch(_STATUS_ROWS, [int(organization_id), query.status, bound])[0][0])
    )
    if rows < least:
        return None
    return _read_page(reader, organization_id, query, _with_plan(shape, substring_plans.SCAN), _AS_SCANNED)


def _walked_page(reader: Reader, organization_id: str, query: ListQuery, shape: Shape) -> list[bytes]:
    """A page with a filter by value or prefix (see walk_plan.applies): read by a walk of its order's index when
    that costs less than sorting the filter's matches (storage/walk_plan.py), else along its email band when it has
    one (_band_page), else by the sort."""
    sorted_shape = _planned_ops(shape, _SORTED)
    walked = _planned_ops(shape, _WALKED)
    parameters = _filter_parameters(organization_id, query, _AS_SCANNED)
    marked = _marked_now(reader, organization_id, query)
    listing = ("walk", organization_id, walked, tuple(parameters), _walks_far(query, marked))
    if not reader.uneven(listing):
        field, op, value = walk_plan.counted(query)
        # Counting 20,000 entries costs 1-2 ms (more on a cold cache), and the count only chooses the plan: kept
        # across commits a while (Reader.estimate).
        tested = [value] if op == "eq" else [value, run_plan.past(value)]
        sql = walk_plan.count_sql(field, op)
        matches = reader.estimate(
            ("walk count", organization_id, field, op, value),
            lambda: int(reader.fetch(sql, [int(organization_id), *tested, walk_plan.CAP + 1])[0][0]),
        )
        rows = search_index.indexed_rows(reader.connection)
        wanted = query.offset - marked + query.per_page + 1
        wide = query.sort_column == "contact_name"
        entries = walk_plan.sorts_entries(query)
        choice = walk_plan.choose(
            matches, rows, wanted, entries_sort=entries, wide=wide, page=query.per_page + 1
        )
        if choice.budget is not None:
            page = reader.within(
                choice.budget, lambda: _read_page(reader, organization_id, query, walked, _AS_SCANNED)
            )
            if page is not None:
                return page
            # Its matches sit together late in the order: sort them next time.
            _mark_overrun(reader, listing, organization_id, query, marked)
    banded = _band_page(reader, organization_id, query, shape)
    if banded is not None:
        return banded
    return _read_page(reader, organization_id, query, sorted_shape, None)


def _band_page(reader: Reader, organization_id: str, query: ListQuery, shape: Shape) -> list[bytes] | None:
    """The page of a name prefix sorted by email (or an email prefix by name), read along the band of the sort's
    keys that begin the same way, when every match's does (storage/band_plan.py, counted in the snapshot the page is
    read in); None when some may not (remembered per reader, as a hint), or for other listings. The order's index is
    walked in the band, the filter tested on each entry (unary +, so SQLite takes neither the filter's index nor a
    status index)."""
    if not band_plan.serves(query):
        return None
    only, band = query.filters[0], query.sort_column
    hint = ("no band", organization_id, only.field, band, only.value)
    if reader.uneven(hint):
        return None
    with reader.snapshot() as facts:
        if not band_plan.holds(reader.connection, facts, organization_id, only.field, band, only.value):
            reader.mark_uneven(hint)
            return None
        banded = msgspec.structs.replace(query, filters=(only, FieldFilter(band, "startswith", only.value)))
        status, _, _, sort_column, sort_order = shape
        walked = (status, ((only.field, _WALK_PREFIX), (band, "startswith")), "", sort_column, sort_order)
        return _read_page(reader, organization_id, banded, walked, None)


_AS_SCANNED = Plan(substring_plans.SCAN)


def _planned_page(
    reader: Reader, organization_id: str, query: ListQuery, shape: Shape, term: str
) -> list[bytes] | None:
    """The page read the way storage/substring_plans.py picks for `term` (or as the run of keys it begins,
    storage/run_plan.py, when that is cheaper), or by the trigram plan when a walk overran its deadline (the
    term's rows were not spread along the listing as its estimate assumed) or once did for this listing. None: a
    short term with many trigrams (see short_query), so common that the listing's own SQL, a walk of the
    listing, finds its page soonest (remembered per reader, as a hint)."""
    if reader.uneven(("common", term)):
        return None
    match = term_match(reader.connection, term, _term_key(query))
    if match is None:
        # A hint kept across writes, as for walks that overran: looking its trigrams up again costs ~3 ms.
        reader.mark_uneven(("common", term))
        return None
    marked = _marked_now(reader, organization_id, query)
    far = _walks_far(query, marked)
    listing = (organization_id, shape, term, far)
    if not reader.uneven(listing):
        # One snapshot for the plan and a page read without a deadline: a LISTED plan hands the page the candidates
        # it found in the index, and the queue the page reads beside them must be the one of that moment (a batch
        # moved into the index in between took a queued row out of both).
        with reader.snapshot():
            plan = substring_plan(reader.connection, query, match, term, marked=marked)
            if _prefix_first(query, plan):
                rows = _prefix_page(reader, organization_id, query, term, match, plan.candidates)
                if rows is not None:
                    return rows
            rows = run_plan.read(reader, organization_id, query, term, _term_key(query), plan)
            if rows is not None:
                return rows
            planned = _with_plan(shape, plan.kind)
            if plan.budget is None:
                return _read_page(reader, organization_id, query, planned, plan)
        rows = reader.within(plan.budget, lambda: _read_page(reader, organization_id, query, planned, plan))
        if rows is not None:
            return rows
        _mark_overrun(reader, listing, organization_id, query, marked)
    # A far walk's page is read by the trigram plan, whose deep page leaves this listing's mark for the next read
    # to walk from (_walks_far); the prefix plan's would leave the prefix listing's.
    rows = None if far else _prefix_page(reader, organization_id, query, term, match, None)
    if rows is not None:
        return rows
    trigram = substring_plans.trigram_plan(match)
    return _read_page(reader, organization_id, query, _with_plan(shape, trigram.kind), trigram)


def _prefix_first(query: ListQuery, plan: Plan) -> bool:
    """Whether a substring filter's page is first tried as the prefix filter's (storage/prefix_plan.py): a term
    with thousands of candidates, in the filter's own order, where the prefix's page is its index's next entries
    once the counts (~0.1-0.5 µs a prefix row, little where few keys begin with the term) say the two are the same.
    In other orders a walk comes first: it meets spread rows soon (`contact_name_contains=ivan` by company 3.7 ms,
    15-20 ms through the prefix's sort), and the prefix plan is tried after it overruns (_planned_page)."""
    if query.search_text or len(query.filters) != 1 or (plan.candidates or 0) < prefix_plan.LEAST:
        return False
    return query.filters[0].field == query.sort_column


def _prefix_page(
    reader: Reader, organization_id: str, query: ListQuery, term: str, match: str, estimate: float | None
) -> list[bytes] | None:
    """The page of a substring filter's listing read as the prefix filter's, when every row holding the term
    begins with it (storage/prefix_plan.py, counted in the snapshot the page is read in); None when some row may
    not, or for a search or a filter beside it. `estimate`: the term's candidates as the substring plans saw them
    (None: a walk of the listing overran, so its rows sit together)."""
    if query.search_text or len(query.filters) != 1 or not match:
        return None  # `match` "": a short term no trigram holds, whose rows can only be queued ones
    field = query.filters[0].field
    with reader.snapshot() as facts:
        counted = prefix_plan.prefix_rows(
            reader.connection, facts, organization_id, field, term, match, estimate
        )
        if counted is None:
            return None
        prefixed = msgspec.structs.replace(query, filters=(FieldFilter(field, "startswith", term),))
        if walk_plan.applies(prefixed):
            # Sorted, never walked: the rows sit together in this order (the substring's walk overran, or the
            # trigram plan was cheaper), and a walk's deadline would end the snapshot the rows were counted in.
            return _read_page(
                reader, organization_id, prefixed, _planned_ops(_shape(prefixed), _SORTED), None
            )
        return _sqlite_page_rows(reader, organization_id, prefixed)


def substring_plan(
    connection: sqlite3.Connection, query: ListQuery, match: str, term: str, *, marked: int = 0
) -> Plan:
    """The plan storage/substring_plans.py picks for a planned listing's page (see _planned_term), whose term's
    candidates `match` finds; `marked`: rows before the page a walk need not pass (_marked_now)."""
    wanted = query.offset - marked + query.per_page + 1
    narrow = query.sort_column != "contact_name"  # only the name order's index holds list rows
    # Covered: each order's walked index carries every filter key, the search key and the status (migrations 0012
    # and 0014-0016), and a walk tests the status there too (_WALKING).
    return substring_plans.plan(
        connection, match, wanted, _term_key(query), term, covered=True, narrow=narrow
    )


def term_match(connection: sqlite3.Connection, term: str, key: str) -> str | None:
    """The FTS5 query for a planned term's candidates in the `key` column: its own trigrams, or a short one's
    (see short_query)."""
    if not _short(term):
        return _trigram_query(term, key)
    found = substring_plans.short_query(connection, term)
    return found and _in_column(key, found)


def _read_page(
    reader: Reader, organization_id: str, query: ListQuery, shape: Shape, plan: Plan | None
) -> list[bytes]:
    """The page read by `shape` (the listing's, or with its search `plan`ned), from a mark when deep."""
    parameters = _filter_parameters(organization_id, query, plan)
    if query.offset >= PAGE_MARK_EVERY:
        return _deep_page(reader, organization_id, query, shape, parameters)
    sql = _rows_last_sql(shape) if _rows_last(shape) else _page_sql(shape)
    # sqlite3 returns BLOBs as bytes already; bytes() would copy each (psycopg gives memoryviews).
    return [row[0] for row in reader.fetch(sql, [*parameters, query.per_page + 1, query.offset])]


def _by_filter_index(shape: Shape) -> bool:
    """A listing by a first or last name, an email or a phone, exact or by prefix, with a status at most beside
    it, in any order but the last change's: that filter's index carries every key its WHERE and ORDER BY read
    (migration 0013)."""
    _, filters, search, sort_column, _ = shape
    indexed = not search and len(filters) == 1 and filters[0] in _INDEXED_FILTERS
    return indexed and sort_column != "last_modified_time"


def _rows_last(shape: Shape) -> bool:
    """A page whose row ids are sorted before its rows are read (_rows_last_sql): by an indexed filter (see
    _by_filter_index), or a walk plan's sort (storage/walk_plan.py), whose matches' index entries most often
    carry the sort key too (migrations 0013-0015): sorting the list rows themselves carried them all through the
    sorter (`contact_name_startswith=a` by email descending over 1,000,000 customers: ~200 ms). Or the trigram
    plan's candidates (see _trigram_read)."""
    return _by_filter_index(shape) or _sorts(shape) or _trigram_read(shape)


_TRIGRAM_READS = {substring_plans.TRIGRAM, substring_plans.LISTED}


def _trigram_read(shape: Shape) -> bool:
    """A page of the trigram plan's candidates: one substring filter or a search, nothing but a status beside it.
    Each candidate's row is read either way, but SQLite's sorter for ORDER BY ... LIMIT copies the list row of
    every candidate it keeps a while, which is most of them in a deep page or where candidates (in id order) come
    in the order's reverse. Sorting row ids, then reading the page's rows, over 1,000,000 customers:
    `phone_contains=555` (4,339 rows) by name 20 -> 11 ms, page 5 26 -> 18, by creation descending 35 -> 20;
    `search_text=labs` by creation descending 518 -> 214; no order slower."""
    _, filters, search, _, _ = shape
    ops = [op for _, op in filters] + ([search] if search else [])
    return len(ops) == 1 and ops[0] in _TRIGRAM_READS


_INDEXED_FILTERS = {
    (field, op)
    for field in ("first_name", "last_name", "email", "phone")
    for op in ("eq", "startswith", _SORT_EQ, _SORT_PREFIX)
}


@lru_cache(maxsize=512)
def _rows_last_sql(shape: Shape, *, seek: bool = False, keyed: bool = False) -> str:
    """The page of a listing that _rows_last picks (`seek`: from a mark on, as seek_page_sql), its rows chosen
    from the index's entries (or the candidates' rows) first and only then read. The one statement reads
    the row of every entry its sorter keeps for a while: over 1,000,000 customers, in another order than the
    name's, 15-43 ms for the 24,947 Ivans, and 0.3-1.3 s when they come in the order's reverse (by email
    descending), against 2-32 ms. Same rows, same order, same parameters. `keyed`: as _page_sql's."""
    # Unary + keeps SQLite off the status indexes (_SORTED): from a mark on, it took the status index's range past
    # the mark and read each row there to test its filter (the whole rest of the listing for a rare value).
    sorted_shape = _planned_ops(shape, _SORTED)
    where, order = _sqlite_clauses(*sorted_shape)
    if seek:
        where += " AND " + _seek_clause(shape[3], shape[4], sorted_=_sorts(sorted_shape))
    arrival = _arrival(shape)
    if arrival is None:
        chosen = f"SELECT contacts.rowid FROM contacts WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    else:
        # LIMIT -1 keeps SQLite from flattening the subquery or dropping its ORDER BY: its index is read backwards.
        names = _sort_names(shape[3])
        columns = ", ".join(f"contacts.{name}" for name in names)
        matches = (
            f"SELECT contacts.rowid AS id, {columns} FROM contacts WHERE {where} ORDER BY {arrival} LIMIT -1"
        )
        # As `order`, which is descending: only a descending sort reads backwards.
        by = ", ".join(f"matches.{name} DESC" for name in names)
        chosen = f"SELECT matches.id FROM ({matches}) AS matches ORDER BY {by} LIMIT ? OFFSET ?"
    return (
        f"SELECT contacts.summary_doc{_sort_key_columns(shape, keyed)} FROM contacts WHERE contacts.rowid IN ({chosen}) "
        f"ORDER BY {order}"
    )


# A first name, last name, email or name filter's own index holds its matches in this order (its key, then the
# next column: tables._FILTER_INDEXES, the name pages index). Names and emails are most often made of each other,
# so matches come to the sorter roughly in a name or email order's ascending sequence, and SQLite's sorter for
# ORDER BY ... LIMIT drops each one past the page at a comparison. In descending order each came before all the
# sorter held and was inserted, then the last dropped: `first_name=ivan` by email descending over 1,000,000
# customers 36 ms, against 15 with the index read backwards, which a descending sort by name or email does. Not
# for other sorts or filters (a phone's, a company's): their matches come in no such order, and the subquery that
# reads backwards costs ~0.25 µs a match (`first_name=ivan` by company descending 10 -> 16 ms).
_ARRIVAL = {
    "first_name": ("first_name_key", "contact_name_key"),
    "last_name": ("last_name_key", "contact_name_key"),
    "email": ("email_key", "contact_id"),
    "contact_name": ("contact_name_key",),
}
_ARRIVAL_SORTS = {"contact_name", "email"}


def _arrival(shape: Shape) -> str | None:
    """The ORDER BY that reads a descending name or email sort's one filter's index backwards (see _ARRIVAL), or
    None: an ascending sort, another sort, other filters, or an index that holds the listing's order already
    (`first_name=ivan` by name, `email_startswith=a` by email), which SQLite reads backwards with no sort at all."""
    _, filters, search, sort_column, sort_order = shape
    if sort_order != "D" or sort_column not in _ARRIVAL_SORTS or search or len(filters) != 1:
        return None
    field, op = filters[0]
    columns, plain = _ARRIVAL.get(field), _PLAIN.get(op, op)
    if columns is None or plain not in ("eq", "startswith"):
        return None  # a substring's rows come from the trigram index, in id order
    exact = plain == "eq"
    held = columns[:2] if exact else columns[:1]
    if _SORT_COLUMNS[sort_column].name in held or (exact and field == "contact_name"):  # a name: one match
        return None
    return ", ".join(f"contacts.{column} DESC" for column in columns)


def _sort_names(sort_column: str) -> tuple[str, ...]:
    """The columns a listing's ORDER BY reads (see _sqlite_clauses)."""
    key = _SORT_COLUMNS[sort_column].name
    return (key,) if _unique_sort(sort_column) else (key, "contact_id")


def _deep_page(
    reader: Reader, organization_id: str, query: ListQuery, shape: Shape, parameters: list[Any]
) -> list[bytes]:
    step = PAGE_MARK_EVERY
    with reader.snapshot(marks=True) as facts:
        listing = _marks_key(organization_id, query)
        marks = _marks_of(reader, facts, listing, organization_id, query)
        rank, key = marks.nearest(query.offset)
        if query.filters or query.search_text:
            return _marking_page(reader, query, shape, parameters, marks, rank, key)
        if key is None or query.offset - rank >= step:
            target = query.offset // step * step
            found = _find_mark(reader, shape, parameters, marks, target, rank, key)
            if found is None:
                return []  # fewer rows than the page's offset: an empty page, as OFFSET gives
            rank, key = target, found
            marks.add(rank, key)
        args = [*parameters, *seek_parameters(key), query.per_page + 1, query.offset - rank]
        sql = _rows_last_sql(shape, seek=True) if _rows_last(shape) else seek_page_sql(shape)
        return [row[0] for row in reader.fetch(sql, args)]


def _value_seek(organization_id: str, query: ListQuery) -> value_plan.Seek | None:
    """A deep page's way to its listing's marks when the value plan reads it (storage/value_plan.py); None for a
    shallow page. The plan sorts the name part's entries, so the seek's range must not walk the order's index."""
    if query.offset < PAGE_MARK_EVERY:
        return None
    clause = _seek_clause(query.sort_column, query.sort_order, sorted_=True)
    return value_plan.Seek(_marks_key(organization_id, query), clause, _sort_names(query.sort_column))


def _marking_page(
    reader: Reader,
    query: ListQuery,
    shape: Shape,
    parameters: list[Any],
    marks: Marks,
    rank: int,
    key: tuple[Any, ...] | None,
) -> list[bytes]:
    """A filtered or searched listing's deep page, read from its nearest mark (`rank`, `key`; None: the start)
    with OFFSET for the rest, leaving marks at its first row and its look-ahead row (the next page's first).
    These listings' marks go at any commit, so a deep page is often read with none near it; finding one first
    (_find_mark) read the rows up to it twice where the page sorts its matches (a trigram plan's candidates, a
    filter's index in another order): once for the mark, once more for the page from it."""
    if _rows_last(shape):
        sql = _rows_last_sql(shape, seek=key is not None, keyed=True)
    else:
        sql = seek_page_sql(shape, keyed=True) if key is not None else _page_sql(shape, keyed=True)
    sought = seek_parameters(key) if key is not None else ()
    rows = reader.fetch(sql, [*parameters, *sought, query.per_page + 1, query.offset - rank])
    marks.add_page(query.offset, query.per_page, rows)
    return [row[0] for row in rows]


def _marks_key(organization_id: str, query: ListQuery) -> tuple[str, Shape, tuple[Any, ...]]:
    """The key of a listing's deep-page marks: they belong to the listing, whichever plan reads it."""
    return ("page marks", _shape(query), tuple(_filter_parameters(organization_id, query)))


def _marked_now(reader: Reader, organization_id: str, query: ListQuery) -> int:
    """How many of a deep page's rows before it its listing's nearest mark passes (0: none yet, or a shallow page),
    as the reader knows them now: a plan that walks from the mark passes only the rest (_deep_page), so it is costed
    for those. A mark of a listing with no filter but status is not looked up here (those are not planned)."""
    if query.offset < PAGE_MARK_EVERY:
        return 0
    with reader.snapshot() as facts:
        marks: Marks | None = facts.get(_marks_key(organization_id, query))
        return 0 if marks is None else marks.nearest(query.offset)[0]


def _walks_far(query: ListQuery, marked: int) -> bool:
    """Whether a walk for the page passes a mark's step or more before the page (from the listing's start, or from
    a mark far behind it): one that overruns says more about how far it went than where the listing's rows sit,
    so its hint (Reader.mark_overrun) is kept apart from those of walks from the page's own mark or for a shallow
    page. Reading the page the other way leaves its mark (_deep_page), and the next read, unless a commit has
    dropped it, walks from there."""
    return query.offset - marked >= PAGE_MARK_EVERY


def _mark_overrun(
    reader: Reader, listing: tuple[Any, ...], organization_id: str, query: ListQuery, marked: int
) -> None:
    """Remember that `listing`'s walk overran (Reader.mark_overrun), unless it was costed from a mark that a
    commit took before the walk began (_marked_now reads marks in a snapshot of their own): that walk started
    further back than costed, so its overrun says nothing of a walk from the mark, and the next read, costed from
    the listing's start, is judged apart (_walks_far)."""
    if _marked_now(reader, organization_id, query) >= marked:
        reader.mark_overrun(listing)


def _find_mark(
    reader: Reader,
    shape: Shape,
    parameters: list[Any],
    marks: Marks,
    target: int,
    rank: int,
    key: tuple[Any, ...] | None,
) -> tuple[Any, ...] | None:
    """The key of the row at rank `target`, walked to from the nearest mark: forwards from the one before it
    (`rank`, `key`; None: the listing's start) or backwards from the one after it, when a write has moved
    that one just past the target (kept marks shift by one for each row that enters or leaves before them)."""
    after = marks.following(target)
    if after is not None and after[0] - target < target - rank:
        sql = _mark_sql(shape, from_mark=True, backwards=True)
        rows = reader.fetch(sql, [*parameters, *seek_parameters(after[1]), after[0] - target - 1])
    elif key is None:
        rows = reader.fetch(_mark_sql(shape, from_mark=False), [*parameters, target])
    else:
        sql = _mark_sql(shape, from_mark=True)
        rows = reader.fetch(sql, [*parameters, *seek_parameters(key), target - rank])
    return tuple(rows[0]) if rows else None


def _marks_of(
    reader: Reader,
    facts: dict[Any, Any],
    listing: tuple[str, Shape, tuple[Any, ...]],
    organization_id: str,
    query: ListQuery,
) -> Marks:
    """A listing's marks: followed across this process's writes when it has no filter but status and no
    search (storage/page_marks.py), else kept until any commit (the listings they serve are short)."""
    descending = query.sort_order == "D"
    if not query.filters and not query.search_text:
        kept = reader.listing_marks(
            listing,
            lambda applied: Marks(
                descending=descending,
                organization_id=int(organization_id),
                status=query.status,
                sort_column=query.sort_column,
                applied=applied,
            ),
        )
        if kept is not None:
            return kept
    return snapshot_marks(facts, listing, descending)


def _sorts(shape: Shape) -> bool:
    """A sort's shape (_SORTED) whose filters' own indexes do not hold the listing's order: its page sorts the
    matches found there, so no seek from a mark may walk the order's index (it carries every filter key since
    migrations 0014 and 0015, and a rare value's walk would read the rest of the listing)."""
    _, filters, _, sort_column, _ = shape
    plain = [(field, _PLAIN.get(op, op)) for field, op in filters]
    return any(op in _PLAIN for _, op in filters) and not walk_plan.ordered(plain, sort_column)


_PLAIN = {_SORT_EQ: "eq", _SORT_PREFIX: "startswith"}


def _directed(columns: Sequence[Any], sort_order: str) -> list[Any]:
    """`columns` as ORDER BY terms, descending for "D"."""
    return [column.desc() if sort_order == "D" else column.asc() for column in columns]


def _page_rows_of(page: Any, organization_id: str, sort_order: str) -> Select[bytes]:
    """The list rows of a page's ids (`page`: contact_id and sort_key columns), in the page's order (PostgreSQL's
    two ways to a filtered page, ContactsRepo.walk_statement and matches_first_statement)."""
    return (
        select(contacts.c.summary_doc)
        .join(
            page,
            (contacts.c.contact_id == page.c.contact_id)
            & (contacts.c.organization_id == int(organization_id)),
        )
        .order_by(*_directed([page.c.sort_key, page.c.contact_id], sort_order))
    )


# PostgreSQL's trigram indexes on these keys hold each key after its first character (migration 0018): a key holds
# a term at its start (a range of the key's B-tree index, in order) or after it (the trigram index).
_TAIL_TRIGRAMS = frozenset(("contact_name_key", "company_name_key", "email_key"))
# A constant in the SQL, as in the index's expression: a bound parameter would not match it in a generic plan (psycopg
# prepares a statement run five times).
_SECOND: ColumnElement[int] = literal_column("2")


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _starts(column: Any, value: str) -> ColumnElement[bool]:
    """`column` begins with `value` exactly: on a key in byte order (SQLite's BINARY, PostgreSQL's "C"), the
    range up to the least text past every text that starts with it (none past a value of U+10FFFF alone). Not
    `LIKE 'value%'`, whose range PostgreSQL derives only from a constant: a statement psycopg has prepared may
    run a generic plan, where it would test every entry of the order."""
    after = substring_plans.next_text(value)
    return column >= value if after is None else and_(column >= value, column < after)


def _after_first(column: Any, escaped: str) -> ColumnElement[bool]:
    """`column` holds the term (LIKE-escaped) after its first character (migration 0018's trigram index)."""
    result: ColumnElement[bool] = func.substr(column, _SECOND).like(f"%{escaped}%", escape="\\")
    return result


# PostgreSQL's filtered pages, their statements as built (SQLAlchemy takes 0.2-2.4 ms to build one, and as long again
# to find its compiled form: the same page asked again, or another status of it, is common). A bound on memory.
_BUILT_MOST = 256
_built_statements: dict[Hashable, Select[bytes]] = {}


def _built(key: Hashable, build: Callable[[], Select[bytes]]) -> Select[bytes]:
    """The statement `build` makes for `key` (the listing and what else it depends on), built once. Statements are
    immutable and carry their values, so threads may share one."""
    statement = _built_statements.get(key)
    if statement is None:
        if len(_built_statements) >= _BUILT_MOST:
            _built_statements.clear()
        statement = _built_statements[key] = build()
    return statement


def _valued_filter(query: ListQuery) -> FieldFilter | None:
    """A first or last name substring filter (any length), which PostgreSQL's matches-first read takes as the
    name part's values that hold it (_values_holding); None when the listing has none."""
    for field_filter in query.filters:
        if field_filter.op == "contains" and field_filter.field in postgres_pages.VALUED:
            return field_filter
    return None


def _name_values(organization_id: str, column: Any) -> Any:
    """The organization's values of `column` (a name part), as a recursive CTE that steps along the column's index
    from each value to the next (~10-40 µs a step over 1,000,000 customers), the last row None. PostgreSQL
    evaluates it only as far as the query reading it asks (postgres_pages.few_values counts up to a bound)."""
    org = contacts.c.organization_id == int(organization_id)
    first = select(column.label("value")).where(org).order_by(column).limit(1)
    values = first.cte("name_values", recursive=True)
    step = contacts.alias("next_value")
    following = (
        select(step.c[column.name])
        .where(step.c.organization_id == int(organization_id), step.c[column.name] > values.c.value)
        .order_by(step.c[column.name])
        .limit(1)
        .scalar_subquery()
    )
    return values.union_all(select(following).where(values.c.value.is_not(None)))


def _counted_values(organization_id: str, column: Any, most: int) -> Select[Any]:
    """How many values of `column` the organization has, counted up to `most` (_name_values)."""
    values = _name_values(organization_id, column)
    stepped = select(values.c.value).where(values.c.value.is_not(None)).limit(most).subquery()
    return select(func.count()).select_from(stepped)


def _values_holding(organization_id: str, column: Any, value: str) -> Select[Any]:
    """The organization's values of `column` that hold `value` (PostgreSQL), found by stepping along the column's
    index (_name_values); each value's entries are then read from that index alone. A first name holds few values (postgres_pages.few_values):
    `first_name_contains=iv` gave pg_trgm nothing to narrow (2 characters) and read the whole index, 100-156 ms a
    page, and a longer term's trigram bitmap read every match's row for its sort key; this way ~15-20 ms, whatever
    the term. Part of the page's statement, so that the values and the rows are one snapshot."""
    values = _name_values(organization_id, column)
    return select(values.c.value).where(values.c.value.like(f"%{_like_escaped(value)}%", escape="\\"))


def _split_filter(query: ListQuery, on: Any = None) -> FieldFilter | None:
    """A substring filter of 3 or more characters on a key with a tail trigram index (migration 0018), or on the
    key `on` only, which PostgreSQL reads as its two sides (_two_sides): walked, on the key the listing is sorted by
    (ContactsRepo.walk_statement), or matches first (ContactsRepo.matches_first_statement); None when the listing
    has none."""
    for field_filter in query.filters:
        column = _FILTER_COLUMNS[field_filter.field]
        if field_filter.op != "contains" or column.name not in _TAIL_TRIGRAMS or _short(field_filter.value):
            continue
        if on is None or column is on:
            return field_filter
    return None


def _two_sides(column: Any, value: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """`column` holds `value` (migration 0018's key): at its start, a range of its B-tree index, or only after its
    first character, from its tail trigram index; the two are disjoint."""
    starts = _starts(column, value)
    return starts, and_(_after_first(column, _like_escaped(value)), not_(starts))


def _unique_sort(sort_column: str) -> bool:
    """Names are unique per organization: a name sort needs no id to order ties or mark a row."""
    return sort_column == "contact_name"


@lru_cache(maxsize=64)
def _seek_clause(sort_column: str, sort_order: str, *, before: bool = False, sorted_: bool = False) -> str:
    """Rows at or after a mark in (key, id) order, or strictly `before` it: a range on the key (which the
    index serves), then ties. `sorted_`: a sort's shape (see _sorts), whose range SQLite must not walk the
    order's index for: unary + on the key."""
    key = f"{'+' if sorted_ else ''}contacts.{_SORT_COLUMNS[sort_column].name}"
    wide, strict = (">=", ">") if (sort_order == "D") == before else ("<=", "<")
    if _unique_sort(sort_column):
        return f"{key} {strict if before else wide} ?"
    return f"{key} {wide} ? AND ({key} {strict} ? OR contacts.contact_id {strict if before else wide} ?)"


@lru_cache(maxsize=512)
def _mark_sql(shape: Shape, *, from_mark: bool, backwards: bool = False) -> str:
    """The (key, id) of the row `OFFSET ?` rows into the listing, or past a mark, or (`backwards`, walking
    the listing in reverse) before a mark."""
    status, filters, search, sort_column, sort_order = shape
    flipped = {"A": "D", "D": "A"}[sort_order] if backwards else sort_order
    where, order = _sqlite_clauses(status, filters, search, sort_column, flipped)
    if from_mark:
        where += " AND " + _seek_clause(sort_column, sort_order, before=backwards, sorted_=_sorts(shape))
    columns = ", ".join(f"contacts.{name}" for name in _sort_names(sort_column))
    return f"SELECT {columns} FROM contacts WHERE {where} ORDER BY {order} LIMIT 1 OFFSET ?"


@lru_cache(maxsize=512)
def seek_page_sql(shape: Shape, *, keyed: bool = False) -> str:
    """A page read from a mark on: the listing's WHERE plus the seek, same order, LIMIT and OFFSET. `keyed`: as
    _page_sql's."""
    where, order = _sqlite_clauses(*shape)
    seek = _seek_clause(shape[3], shape[4], sorted_=_sorts(shape))
    return (
        f"SELECT contacts.summary_doc{_sort_key_columns(shape, keyed)} FROM contacts WHERE {where} AND {seek} "
        f"ORDER BY {order} LIMIT ? OFFSET ?"
    )


# A substring of 3 or more characters: the trigram index finds the rows holding trigrams that cover it in its
# key's column, and the row's own key confirms it (the index knows a trigram's column, not where in it:
# detail=column). A GLOB on the FTS5 table would look up every trigram of the value; covering it takes about a
# third of them (2 of a 6-character value's 4), each a walk of its rows' list: over 1,000,000 customers a
# search's SQL 298 -> 198 µs, same rows. Rows whose keys are still queued for the index are candidates too, and
# the confirmation on the row also rules out what the index still holds for rows since changed or deleted
# (storage/search_index.py keeps the queue short).
_SCAN_IN = "instr(contacts.{key}, ?) > ?"
_FTS_IN = "contacts.contact_id IN (" + _CANDIDATES.format(trigrams="?") + ") AND " + _SCAN_IN
# The same test, with the unary + keeping SQLite from reading rows by it: the listing's index is walked in order
# and the candidates, gathered once, rule out rows on their index entry (storage/substring_plans.py).
_SUBSTRING_IN = {
    substring_plans.TRIGRAM: _FTS_IN,
    substring_plans.SCAN: _SCAN_IN,
    substring_plans.MEMBER: "+" + _FTS_IN,
    substring_plans.LISTED: "contacts.contact_id IN (" + _LISTED + ") AND " + _SCAN_IN,
    _WALK_SCAN: _SCAN_IN,
    _WALK_MEMBER: "+" + _FTS_IN,
}


def _trigram_query(value: str, key: str) -> str:
    """An FTS5 query for the trigrams of `value` at 0, 3, 6, … and its last one in the `key` column: every row
    whose key holds `value` holds them all there. Each is a quoted string, so no character of the value is FTS5
    syntax."""
    starts = list(range(0, len(value) - 2, 3))
    if starts[-1] != len(value) - 3:
        starts.append(len(value) - 3)
    return _in_column(key, " AND ".join('"' + value[i : i + 3].replace('"', '""') + '"' for i in starts))


def _in_column(key: str, match: str) -> str:
    """`match` in the `key` column of the trigram index alone (it records each trigram's columns: migration
    0011); a trigram of another key (`com` of every .com address, for a name filter) finds nothing."""
    return f"{{{key}}} : ({match})"


# ---- the writes ------------------------------------------------------------------------------------------
# Every statement of a write request, built once (see storage/prepared.py: on SQLite they run on the driver).


def _keyed(table: Any) -> Any:
    """`table`'s tenant key as bound parameters: contact_id and organization_id."""
    return (table.c.contact_id == bindparam("w_contact_id")) & (
        table.c.organization_id == bindparam("w_organization_id")
    )


_INSERT = {
    table.name: Prepared(insert(table))
    for table in (contact_addresses, contact_persons, contact_custom_fields, contact_history)
}
# SQLite: a history entry's id is one past the table's last (read on its primary-key index, a page the insert
# writes anyway), which spares each update and delete an UPDATE of id_sequences and its page in the commit. One
# writer at a time keeps it unique and in commit order, across processes too. The ids live from
# ids.HISTORY_ID_START up, past every id the sequence hands out, so no contact, address or person shares one
# (and entries drawn from the sequence before stay older). PostgreSQL draws them from the sequence.
_HISTORY_COLUMNS = [c.name for c in contact_history.columns if c.name != "history_id"]
_INSERT_HISTORY_NEXT = Prepared(
    text(
        f"INSERT INTO contact_history (history_id, {', '.join(_HISTORY_COLUMNS)}) VALUES ("
        f"(SELECT max(coalesce(max(history_id), 0), {ids.HISTORY_ID_START - 1}) + 1 FROM contact_history), "
        f"{', '.join(':' + c for c in _HISTORY_COLUMNS)})"
    )
)
# A new contact starts at the version column's default (1).
_INSERT["contacts"] = Prepared(
    insert(contacts).values({c.name: bindparam(c.name) for c in contacts.columns if c.name != "version"})
)
_UPDATED_COLUMNS = [
    c.name
    for c in contacts.columns
    if c.name not in ("contact_id", "organization_id", "created_at_ms", "version")
]
# Every write of a contact bumps its row version: its ETag (api/preconditions.py).
_UPDATE_CONTACT = Prepared(
    update(contacts)
    .where(_keyed(contacts))
    .values(
        {
            **{name: bindparam(name) for name in _UPDATED_COLUMNS},
            "version": contacts.c.version + literal_column("1"),
        }
    )
)
# What the indexes and the trigram index hold: the trigram index's columns (the keys the filters and the
# search match) and status. An update that leaves them as they were (notes, an address, a person) rewrites the
# row's other columns only, so SQLite touches no index entries but updated_at's and the list-page indexes'
# (migration 0006, which carry summary_doc), and FTS5 re-tokenizes nothing: a SET that names an indexed column
# rewrites its entries even when the value is the same.
_INDEXED_COLUMNS = (*TRIGRAM_KEYS, "status")
_BODY_COLUMNS = [name for name in _UPDATED_COLUMNS if name not in _INDEXED_COLUMNS]
_UPDATE_CONTACT_BODY = Prepared(
    update(contacts)
    .where(
        _keyed(contacts),
        and_(*(contacts.c[name] == bindparam(f"k_{name}") for name in _INDEXED_COLUMNS)),
    )
    .values(
        {
            **{name: bindparam(name) for name in _BODY_COLUMNS},
            "version": contacts.c.version + literal_column("1"),
        }
    )
)
_CHILD_TABLES = {
    ChildRows.ADDRESSES: contact_addresses,
    ChildRows.PERSONS: contact_persons,
    ChildRows.CUSTOM_FIELDS: contact_custom_fields,
}
_DELETE_CHILDREN = {
    kind: Prepared(delete(table).where(_keyed(table))) for kind, table in _CHILD_TABLES.items()
}
# FOR UPDATE: PostgreSQL locks the row; SQLite has no row locks (its writer holds the database) and the
# dialect leaves the clause out.
_VERSION_FOR_UPDATE = Prepared(select(contacts.c.version).where(_keyed(contacts)).with_for_update())
_DELETE_CONTACT = Prepared(delete(contacts).where(_keyed(contacts)))
# What a delete's history entry keeps, and the row's place in listings (for kept deep-page marks). Reading these
# columns alone, not the stored record: the record spills into an overflow page and must be decoded.
# (DELETE … RETURNING measured slower than this read: SQLite buffers RETURNING rows in a temporary table.)
_NAME_AND_POSITION = Prepared(
    select(
        contacts.c.contact_name,
        contacts.c.status,
        contacts.c.contact_name_key,
        contacts.c.company_name_key,
        contacts.c.email_key,
        contacts.c.created_at_ms,
        contacts.c.updated_at_ms,
    ).where(_keyed(contacts))
)
_NAME_TAKEN = Prepared(
    select(
        exists().where(
            contacts.c.organization_id == bindparam("w_organization_id"),
            contacts.c.contact_name_key == bindparam("w_name_key"),
            contacts.c.contact_id != bindparam("w_except_id"),
        )
    )
)
_STATE = Prepared(select(contacts.c.state_doc, contacts.c.version).where(_keyed(contacts)))
_STATE_LOCKED = Prepared(
    select(contacts.c.state_doc, contacts.c.version).where(_keyed(contacts)).with_for_update()
)
_CONTACT_OF_PERSON = Prepared(
    select(contact_persons.c.contact_id).where(
        contact_persons.c.contact_person_id == bindparam("w_person_id"),
        contact_persons.c.organization_id == bindparam("w_organization_id"),
    )
)


class ContactsRepo:
    """Contact rows of one connection's transaction; implements the domain's ContactStore. Built over a
    database's Reader instead (SQLite only), it serves the hot reads get_doc and list_summaries and nothing else."""

    def __init__(self, connection: Connection | None = None, *, reader: Reader | None = None) -> None:
        self._connection = connection
        self._runner = None if connection is None else Runner(connection)
        self.reader = reader
        self.sqlite = reader is not None or (connection is not None and connection.dialect.name == "sqlite")
        # PostgreSQL: every write ends with a history entry, whose id comes with the write's first allocation
        # (one draw from the sequence per create instead of two). SQLite's come from the table (_INSERT_HISTORY_NEXT).
        self._history_ids: list[int] = []
        # Row versions this transaction has read under its lock and followed through its own writes, so an
        # update's new ETag needs no second read.
        self._versions: dict[tuple[str, str], int] = {}

    @property
    def runner(self) -> Runner:
        """The transaction's statement runner."""
        if self._runner is None:
            raise RuntimeError("this ContactsRepo serves hot reads only")
        return self._runner

    @property
    def connection(self) -> Connection:
        """The transaction's connection."""
        if self._connection is None:
            raise RuntimeError("this ContactsRepo serves hot reads only")
        return self._connection

    # ---- reads that serve stored bytes ------------------------------------------------------------------

    def get_doc(self, organization_id: str, contact_id: int) -> bytes | None:
        """The stored JSON of one contact, or None."""
        if self.reader is not None:
            rows = self.reader.fetch(_DOC_SQL, (contact_id, int(organization_id)))
            return rows[0][0] if rows else None
        row = self.connection.execute(
            _GET_DOC, {"contact_id": contact_id, "organization_id": int(organization_id)}
        ).first()
        return None if row is None else bytes(row[0])

    def get_versioned_doc(self, organization_id: str, contact_id: int) -> tuple[bytes, int] | None:
        """The stored JSON of one contact and its row version, or None."""
        if self.reader is not None:
            rows = self.reader.fetch(_DOC_VERSION_SQL, (contact_id, int(organization_id)))
            return (rows[0][0], rows[0][1]) if rows else None
        row = self.connection.execute(
            _GET_DOC_VERSION, {"contact_id": contact_id, "organization_id": int(organization_id)}
        ).first()
        return None if row is None else (bytes(row[0]), int(row[1]))

    def version_for_update(self, organization_id: str, contact_id: str) -> int | None:
        """The contact's row version, row-locked until the transaction ends (PostgreSQL; SQLite holds the
        write lock), or None when there is no such contact."""
        if not is_id(contact_id):
            return None
        known = self._versions.get((organization_id, contact_id))
        if known is not None:
            return known
        rows = self.runner.rows(_VERSION_FOR_UPDATE, _key(organization_id, contact_id))
        return int(rows[0][0]) if rows else None

    def list_summaries(self, organization_id: str, query: ListQuery) -> list[bytes]:
        """Stored list rows of one page, plus one more row when a next page exists."""
        reader = self.reader
        if reader is not None:
            # Kept until any write (Reader.remembered): a page asked for again is a dictionary lookup.
            return reader.remembered(
                ("page", organization_id, query),
                lambda: _sqlite_page_rows(reader, organization_id, query),
                marks=query.offset >= PAGE_MARK_EVERY,
            )
        if self.sqlite or not (query.filters or query.search_text):
            statement = self.list_statement(organization_id, query)
            return [bytes(row[0]) for row in self.connection.execute(statement)]
        walk = _built(("walk", organization_id, query), lambda: self.walk_statement(organization_id, query))

        def matches_first() -> Select[bytes]:
            # Built only if the page is read that way: it may count a name part's values (_valued_filter).
            few = self._few_values(organization_id, query)
            key = ("matches first", organization_id, query, few)
            return _built(key, lambda: self._matches_first_statement(organization_id, query, few))

        return postgres_pages.page_rows(
            self.connection,
            walk,
            matches_first,
            short_term=scans(query),
            listing=(organization_id, msgspec.structs.replace(query, page=1)),
            offset=query.offset,
        )

    def list_statement(self, organization_id: str, query: ListQuery) -> Select[bytes]:
        """The page query (exposed so tests can read its plan)."""
        statement = select(contacts.c.summary_doc).where(*self._listed(organization_id, query))
        sort = _SORT_COLUMNS[query.sort_column]
        # Names are unique per organization, so a name sort needs no id tie-break; without one PostgreSQL reads
        # the (organization_id, contact_name_key) unique index in order instead of sorting (as SQLite does).
        order = [sort] if _unique_sort(query.sort_column) else [sort, contacts.c.contact_id]
        statement = statement.order_by(*_directed(order, query.sort_order))
        return statement.limit(query.per_page + 1).offset(query.offset)

    def walk_statement(self, organization_id: str, query: ListQuery) -> Select[bytes]:
        """A filtered page's walk on PostgreSQL (storage/postgres_pages.py): the page's ids and sort keys first,
        then their list rows. Each order's walked index carries the status, every filter key and the search key
        (migrations 0013-0017), so the walk tests index entries alone, an index-only scan (~0.3 µs each over
        1,000,000 customers), where an index scan reads the row behind every entry it tests (1-3 µs). With a
        status the planner mostly takes the status's own index instead, and reads the rows, as before.

        A substring of the key the listing is sorted by is walked as two sides merged in order (migration 0018):
        the keys that begin with it, a range of the order's index, and the keys holding it after their first
        character, which the planner reads from the trigram index or by a walk, whichever its estimate favours.
        Names, companies and emails are searched by how they begin, so the first side holds the page and the
        second is mostly empty: `contact_name_contains=ivan` by name over 1,000,000 customers ~150 ms walked,
        a few ms this way."""
        sort = _SORT_COLUMNS[query.sort_column]
        unique = _unique_sort(query.sort_column)
        order = _directed([sort] if unique else [sort, contacts.c.contact_id], query.sort_order)
        ids = select(contacts.c.contact_id, sort.label("sort_key"))
        run = _split_filter(query, on=sort)
        if run is None:
            walked = ids.where(*self._listed(organization_id, query)).order_by(*order)
        else:
            others = self._listed(organization_id, query, without=run)
            sides = [
                ids.where(*others, side).order_by(*order).limit(query.offset + query.per_page + 1).subquery()
                for side in _two_sides(sort, run.value)
            ]
            both = union_all(*(select(side.c.contact_id, side.c.sort_key) for side in sides)).subquery(
                "sides"
            )
            # In the sides' own order, so that the planner merges them as they come.
            merged = [both.c.sort_key] if unique else [both.c.sort_key, both.c.contact_id]
            walked = select(both.c.contact_id, both.c.sort_key).order_by(*_directed(merged, query.sort_order))
        page = (
            walked.limit(query.per_page + 1)
            .offset(query.offset)
            .cte("walked")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        return _page_rows_of(page, organization_id, query.sort_order)

    def matches_first_statement(self, organization_id: str, query: ListQuery) -> Select[bytes]:
        """The same page read matches first (PostgreSQL; storage/postgres_pages.py): every match's id and sort
        key, the page's ids sorted out of them (a top-N sort), then their list rows in that order.

        The matches are a subquery fenced by OFFSET 0, so that the planner reads them for all rows and cannot turn
        the page back into the walk; unlike a MATERIALIZED CTE, their rows go straight into the sort instead of
        through a tuplestore (`contact_name_startswith=a` by email descending over 1,000,000 customers: 52 ->
        38 ms). A substring of a name, company or email, or a search, is read as its sides (_sides), each sorted
        and cut to the page on its own: as one condition, the planner took a bitmap of the trigram index (or a
        BitmapOr) and then read every match's row for its sort key (`contact_name_contains=ivan` or
        `search_text=ivan` by email: 24,947 rows, 100-110 ms; as sides 13-20 ms). A first or last name substring
        is read as the name part's values that hold it (_values_holding), where they are few."""
        return self._matches_first_statement(organization_id, query, self._few_values(organization_id, query))

    def _few_values(self, organization_id: str, query: ListQuery) -> bool:
        """Whether the listing's name part substring (_valued_filter) is best read as the values holding it."""
        valued = _valued_filter(query)
        if valued is None:
            return False
        column = _FILTER_COLUMNS[valued.field]
        return postgres_pages.few_values(
            self.connection,
            (organization_id, valued.field),
            lambda most: _counted_values(organization_id, column, most),
        )

    def _matches_first_statement(self, organization_id: str, query: ListQuery, few: bool) -> Select[bytes]:
        sort = _SORT_COLUMNS[query.sort_column]
        ids = select(contacts.c.contact_id, sort.label("sort_key"))
        sides = self._sides(organization_id, query)
        valued = _valued_filter(query) if sides is None and few else None
        if valued is not None:
            column = _FILTER_COLUMNS[valued.field]
            held = _values_holding(organization_id, column, valued.value).subquery("held")
            listed = self._listed(organization_id, query, without=valued)
            if _unique_sort(query.sort_column):
                # A name part's index holds each value's entries in name order (migration 0013): a page from each
                # value, read in order, then merged (`first_name_contains=iv` by name: ~17 -> ~2 ms).
                each = (
                    ids.where(*listed, column == held.c.value)
                    .order_by(*_directed([sort], query.sort_order))
                    .limit(query.offset + query.per_page + 1)
                    .lateral("each_value")
                )
                matches = (
                    select(each.c.contact_id, each.c.sort_key)
                    .select_from(held.join(each, true()))
                    .subquery("matches")
                )
            else:
                matches = ids.where(*listed, column.in_(select(held.c.value))).offset(0).subquery("matches")
        elif sides is None:
            matches = ids.where(*self._listed(organization_id, query)).offset(0).subquery("matches")
        else:
            others, alternatives, disjoint = sides
            # The side that is a range of the sort key is read in order, up to the page; the others leave its rows
            # to it: their rows, fewer, then need no sort (`search_text=ivan` by email: every "Ivan …" is in both
            # the name's range, 24,947 entries, and the email's).
            in_order = [not_(alternative) for alternative, ranged in alternatives if ranged is sort]
            parts = []
            for alternative, ranged in alternatives:
                side = ids.where(*others, alternative, *([] if disjoint or ranged is sort else in_order))
                # Any side but the sort key's range is fenced as above.
                fenced = side if ranged is sort else select(side.offset(0).subquery())
                key, contact_id = fenced.selected_columns.sort_key, fenced.selected_columns.contact_id
                cut = fenced.order_by(*_directed([key, contact_id], query.sort_order))
                part = cut.limit(query.offset + query.per_page + 1).subquery()
                parts.append(select(part.c.contact_id, part.c.sort_key))
            # A search's sides overlap (a row may hold the term in its name and its email): UNION keeps each once.
            matches = (union_all(*parts) if disjoint else union(*parts)).subquery("matches")
        order = _directed([matches.c.sort_key, matches.c.contact_id], query.sort_order)
        page = (
            select(matches.c.contact_id, matches.c.sort_key)
            .order_by(*order)
            .limit(query.per_page + 1)
            .offset(query.offset)
            .subquery("page")
        )
        return _page_rows_of(page, organization_id, query.sort_order)

    def _sides(
        self, organization_id: str, query: ListQuery
    ) -> tuple[list[ColumnElement[bool]], list[tuple[ColumnElement[bool], Any]], bool] | None:
        """A listing whose substring condition is the OR of conditions each served by one index (PostgreSQL): what
        every match meets, the alternatives (each with the key it is a range of, or None), and whether they are
        disjoint; None for any other listing.

        A key holds a term at its start (a range of its B-tree index) or after its first character (migration
        0018's trigram index), and a search key is the name, company, email and phone keys joined by a separator
        (domain/listing.py), so a term without one is in it exactly when it is in one of them. Two sides for a
        name, company or email substring (disjoint), seven for a search: three keys' two sides and the phone."""
        term = query.search_text
        if term and not _short(term) and SEARCH_SEPARATOR not in term:
            escaped = _like_escaped(term)
            alternatives: list[tuple[ColumnElement[bool], Any]] = []
            for column in (contacts.c.contact_name_key, contacts.c.company_name_key, contacts.c.email_key):
                alternatives += [(_starts(column, term), column), (_after_first(column, escaped), None)]
            alternatives.append((contacts.c.phone_key.like(f"%{escaped}%", escape="\\"), None))
            return self._listed(organization_id, query, search=False), alternatives, False
        split = _split_filter(query)
        if split is None:
            return None
        column = _FILTER_COLUMNS[split.field]
        starts, after_first = _two_sides(column, split.value)
        return (
            self._listed(organization_id, query, without=split),
            [(starts, column), (after_first, None)],
            True,
        )

    def _listed(
        self,
        organization_id: str,
        query: ListQuery,
        *,
        without: FieldFilter | None = None,
        search: bool = True,
    ) -> list[ColumnElement[bool]]:
        """What puts a contact in the listing: its organization, the status asked for, filters (all but
        `without`) and search (unless not `search`)."""
        conditions: list[ColumnElement[bool]] = [contacts.c.organization_id == int(organization_id)]
        if query.status is not None:
            conditions.append(contacts.c.status == query.status)
        return conditions + self._conditions(query, without=without, search=search)

    def _conditions(
        self, query: ListQuery, *, without: FieldFilter | None = None, search: bool = True
    ) -> list[ColumnElement[bool]]:
        conditions = [self._filter(f) for f in query.filters if f is not without]
        if query.search_text and search:
            conditions.append(self._contains(contacts.c.search_key, query.search_text))
        return conditions

    def _filter(self, field_filter: FieldFilter) -> ColumnElement[bool]:
        column = _FILTER_COLUMNS[field_filter.field]
        if field_filter.op == "eq":
            return column == field_filter.value
        if field_filter.op == "startswith":
            return _starts(column, field_filter.value)
        return self._contains(column, field_filter.value)

    def _contains(self, column: Any, value: str) -> ColumnElement[bool]:
        """Substring match served by a trigram index: FTS5 on SQLite, pg_trgm on PostgreSQL."""
        if self.sqlite:
            found: ColumnElement[bool] = func.instr(column, value) > 0
            if _short(value):
                return found
            return and_(
                contacts.c.contact_id.in_(
                    _FTS_MATCH.bindparams(p_trigrams=_trigram_query(value, column.name))
                ),
                found,
            )
        escaped = _like_escaped(value)
        if column.name in _TAIL_TRIGRAMS and not _short(value):
            return or_(_starts(column, value), _after_first(column, escaped))
        result: ColumnElement[bool] = column.like(f"%{escaped}%", escape="\\")
        return result

    # ---- ContactStore -----------------------------------------------------------------------------------

    def allocate_ids(self, count: int) -> list[int]:
        """`count` fresh server-wide ids (and on PostgreSQL, the first time, one more kept for the history
        entry)."""
        if self.sqlite or self._history_ids or count <= 0:
            return ids.allocate(self.runner, count)
        taken = ids.allocate(self.runner, count + 1)
        self._history_ids.append(taken.pop())
        return taken

    def name_taken(self, organization_id: str, name_key: str, except_contact_id: str | None) -> bool:
        """True when another contact of the organization has this case-folded name."""
        parameters = {
            "w_organization_id": int(organization_id),
            "w_name_key": name_key,
            "w_except_id": 0 if except_contact_id is None else int(except_contact_id),  # ids are never 0
        }
        return bool(self.runner.rows(_NAME_TAKEN, parameters)[0][0])

    def load_for_update(self, organization_id: str, contact_id: str) -> ContactRecord | None:
        """The stored contact, row-locked until the transaction ends (PostgreSQL; SQLite holds the write
        lock)."""
        return self._record(organization_id, contact_id, lock=True)

    def get_record(self, organization_id: str, contact_id: str) -> ContactRecord | None:
        """The stored contact, for reading."""
        return self._record(organization_id, contact_id, lock=False)

    def _record(self, organization_id: str, contact_id: str, *, lock: bool) -> ContactRecord | None:
        if not is_id(contact_id):
            return None
        statement = _STATE_LOCKED if lock and not self.sqlite else _STATE
        rows = self.runner.rows(statement, _key(organization_id, contact_id))
        if not rows:
            return None
        if lock:
            self._versions[(organization_id, contact_id)] = int(rows[0][1])
        return decode_record(rows[0][0])

    def contact_of_person(self, organization_id: str, contact_person_id: str) -> str | None:
        """The contact a person belongs to, within the organization."""
        if not is_id(contact_person_id):
            return None
        rows = self.runner.rows(
            _CONTACT_OF_PERSON,
            {"w_person_id": int(contact_person_id), "w_organization_id": int(organization_id)},
        )
        return str(rows[0][0]) if rows else None

    def insert(self, organization_id: str, record: ContactRecord, at_ms: int) -> None:
        """Write a new contact: its row, rendered JSON, addresses, persons and custom fields."""
        values = _contact_values(organization_id, record, at_ms)
        values["created_at_ms"] = at_ms
        with _duplicates_named(record.contact):
            self.runner.execute(_INSERT["contacts"], values)
        moves = self._moves()
        if moves is not None:
            moves.append(Move(values["organization_id"], None, _written_position(values)))
        self._write_children(organization_id, record)

    def insert_many(self, organization_id: str, created: Sequence[tuple[ContactRecord, int]]) -> None:
        """Write many new contacts (each with its creation time) in the caller's transaction: the same rows and
        rendered JSON as `insert`, sent as one executemany per table (bulk imports, benchmark data)."""
        if not created:
            return
        rows = []
        for record, at_ms in created:
            values = _contact_values(organization_id, record, at_ms)
            values["created_at_ms"] = at_ms
            rows.append(values)
        self.runner.execute_many(_INSERT["contacts"], rows)
        org = int(organization_id)
        moves = self._moves()
        if moves is not None:
            moves.extend(Move(org, None, _written_position(values)) for values in rows)
        children = [_children_rows(org, record) for record, _ in created]
        for index, table in enumerate(_CHILD_TABLES.values()):
            table_rows = [row for rows_of_contact in children for row in rows_of_contact[index]]
            self.runner.execute_many(_INSERT[table.name], table_rows)

    def replace(
        self,
        organization_id: str,
        record: ContactRecord,
        at_ms: int,
        *,
        children: Collection[ChildRows] = ALL_CHILDREN,
    ) -> None:
        """Write a new state of an existing contact (a new row version); the kinds of its rows named in
        `children` are rewritten in the same transaction (the others are unchanged)."""
        values = _contact_values(organization_id, record, at_ms)
        key = _key(organization_id, record.contact.contact_id)
        body = {name: values[name] for name in _BODY_COLUMNS}
        body.update({f"k_{name}": values[name] for name in _INDEXED_COLUMNS}, **key)
        moves = self._moves()
        # Only the parameters each statement names: SQLAlchemy would add other column-named ones to its SET.
        updated = self.runner.execute(_UPDATE_CONTACT_BODY, body)
        if updated:
            if moves is not None:
                moves.append(Move(key["w_organization_id"], None, None, touched=True))
        else:
            old = self._read_position(key) if moves is not None else None
            values.update(key)
            with _duplicates_named(record.contact):
                updated = self.runner.execute(_UPDATE_CONTACT, values)
            if old is not None and moves is not None:  # no row, nothing updated: nothing moved
                new = _written_position({**values, "created_at_ms": old.created_at_ms})
                moves.append(Move(key["w_organization_id"], old, new))
        followed = (organization_id, record.contact.contact_id)
        if updated and followed in self._versions:
            self._versions[followed] += 1  # both statements bump it by one
        else:
            self._versions.pop(followed, None)
        if not children:
            return
        for kind in children:
            # The organization too: every tenant statement names its shard key (docs/SCALING.md).
            self.runner.execute(_DELETE_CHILDREN[kind], key)
        self._write_children(organization_id, record, children)

    def record_change(self, organization_id: str, change: Change) -> None:
        """Append an entry to a contact's history."""
        self.record_changes(organization_id, [change])

    def record_changes(self, organization_id: str, changes: Sequence[Change]) -> None:
        """Append entries to contacts' histories (one executemany: imports write a batch's at once)."""
        if not changes:
            return
        org = int(organization_id)
        rows = [
            {
                "organization_id": org,
                "contact_id": int(change.contact_id),
                "contact_name": change.contact_name,
                "at_ms": change.stamp.at_ms,
                "actor_id": change.stamp.actor_id,
                "actor_name": change.stamp.actor_name,
                "operation": change.operation,
                "description": change.description,
                "changed_fields": encode(change.changed_fields).decode(),
            }
            for change in changes
        ]
        if self.sqlite:
            self.runner.execute_many(_INSERT_HISTORY_NEXT, rows)
            return
        kept, self._history_ids = self._history_ids[: len(changes)], self._history_ids[len(changes) :]
        history_ids = kept + ids.allocate(self.runner, len(changes) - len(kept))
        for row, history_id in zip(rows, history_ids, strict=True):
            row["history_id"] = history_id
        self.runner.execute_many(_INSERT["contact_history"], rows)

    def history(
        self, organization_id: str, contact_id: str, *, limit: int, offset: int, live_only: bool = False
    ) -> list[HistoryRow] | None:
        """A contact's history, newest first; None when there is none (or, with `live_only`, when the contact
        no longer exists: the API shows history of live contacts, operators see a deleted one's too)."""
        if not is_id(contact_id):
            return None
        if live_only and self.get_doc(organization_id, int(contact_id)) is None:
            return None
        rows = self.connection.execute(
            select(
                contact_history.c.history_id,
                contact_history.c.contact_id,
                contact_history.c.contact_name,
                contact_history.c.at_ms,
                contact_history.c.actor_id,
                contact_history.c.actor_name,
                contact_history.c.operation,
                contact_history.c.description,
                contact_history.c.changed_fields,
            )
            .where(
                contact_history.c.organization_id == int(organization_id),
                contact_history.c.contact_id == int(contact_id),
            )
            .order_by(contact_history.c.history_id.desc())
            .limit(limit)
            .offset(offset)
        )
        found = [
            HistoryRow(
                history_id=str(r.history_id),
                contact_id=str(r.contact_id),
                contact_name=r.contact_name,
                at_ms=r.at_ms,
                actor_id=r.actor_id,
                actor_name=r.actor_name,
                operation=r.operation,
                description=r.description,
                changed_fields=msgspec.json.decode(r.changed_fields, type=list[str]),
            )
            for r in rows
        ]
        return found if found or live_only else None

    def delete(self, organization_id: str, contact_id: str) -> str | None:
        """Remove a contact (its children go with it: ON DELETE CASCADE); returns its name, or None when there
        was no such contact."""
        if not is_id(contact_id):
            return None
        key = _key(organization_id, contact_id)
        self._versions.pop((organization_id, contact_id), None)
        rows = self.runner.rows(_NAME_AND_POSITION, key)
        # The DELETE's own count decides (PostgreSQL: a concurrent delete of the row may commit in between).
        if not rows or not self.runner.execute(_DELETE_CONTACT, key):
            return None
        name, *position = rows[0]
        moves = self._moves()
        if moves is not None:
            moves.append(Move(key["w_organization_id"], _stored_position(position, key), None))
        return str(name)

    def _moves(self) -> list[Move | None] | None:
        """Where this write says what it did to contacts' places in listings: only inside a group-commit batch
        that keeps deep-page marks (storage/page_marks.py), else None."""
        moves: list[Move | None] | None = self.connection.info.get(MOVES_KEY)
        return moves

    def _read_position(self, key: dict[str, int]) -> Position | None:
        """A stored contact's place in listings (read before a write changes it)."""
        rows = self.runner.rows(_NAME_AND_POSITION, key)
        return _stored_position(rows[0][1:], key) if rows else None

    def _write_children(
        self, organization_id: str, record: ContactRecord, kinds: Collection[ChildRows] = ALL_CHILDREN
    ) -> None:
        rows = _children_rows(int(organization_id), record)
        for (kind, table), kind_rows in zip(_CHILD_TABLES.items(), rows, strict=True):
            if kind in kinds:
                self.runner.execute_many(_INSERT[table.name], kind_rows)


def _key(organization_id: str, contact_id: str) -> dict[str, int]:
    return {"w_contact_id": int(contact_id), "w_organization_id": int(organization_id)}


_Rows = list[dict[str, Any]]


def _children_rows(org: int, record: ContactRecord) -> tuple[_Rows, _Rows, _Rows]:
    """The address, person and custom-field rows of a contact (shared by insert, insert_many and replace)."""
    contact = record.contact
    contact_id = int(contact.contact_id)
    kinds = [("billing", record.billing), ("shipping", record.shipping)]
    kinds += [("additional", address) for address in record.additional]
    addresses = [
        {**_address_values(address), "contact_id": contact_id, "organization_id": org, "kind": kind}
        for kind, address in kinds
    ]
    persons = [
        {
            **msgspec.structs.asdict(person),
            "contact_person_id": int(person.contact_person_id),
            "contact_id": contact_id,
            "organization_id": org,
            "position": position,
        }
        for position, person in enumerate(contact.contact_persons)
    ]
    custom_fields = [
        {
            "contact_id": contact_id,
            "customfield_id": field.customfield_id,
            "organization_id": org,
            "position": position,
            "value_json": encode(field.value).decode(),
        }
        for position, field in enumerate(contact.custom_fields)
    ]
    return addresses, persons, custom_fields


def _address_values(address: AddressDetail) -> dict[str, Any]:
    values = msgspec.structs.asdict(address)
    values["address_id"] = int(values["address_id"])
    return values


def _stored_position(columns: Sequence[Any], key: dict[str, int]) -> Position:
    """A contact's place in listings from _NAME_AND_POSITION's columns after the name."""
    status, name, company, email, created_at_ms, updated_at_ms = columns
    return Position(status, name, company, email, created_at_ms, updated_at_ms, key["w_contact_id"])


def _written_position(values: dict[str, Any]) -> Position:
    """A written row's place in listings, from its column values."""
    return Position(
        values["status"],
        values["contact_name_key"],
        values["company_name_key"],
        values["email_key"],
        values["created_at_ms"],
        values["updated_at_ms"],
        values["contact_id"],
    )


def _contact_values(organization_id: str, record: ContactRecord, at_ms: int) -> dict[str, Any]:
    contact = record.contact
    keys = {
        "contact_name_key": name_key(contact.contact_name),
        "company_name_key": contact.company_name.strip().casefold(),
        "email_key": contact.email.strip().casefold(),
        "phone_key": contact.phone.strip().casefold(),
    }
    return {
        "contact_id": int(contact.contact_id),
        "organization_id": int(organization_id),
        "contact_name": contact.contact_name,
        "company_name": contact.company_name,
        **keys,
        "first_name_key": contact.first_name.strip().casefold(),
        "last_name_key": contact.last_name.strip().casefold(),
        "search_key": SEARCH_SEPARATOR.join(keys.values()),
        "status": contact.status,
        "website": contact.website,
        "twitter": contact.twitter,
        "facebook": contact.facebook,
        "notes": contact.notes,
        "primary_contact_id": int(contact.primary_contact_id) if contact.primary_contact_id else None,
        "updated_at_ms": at_ms,
        "doc": encode(contact),
        "summary_doc": encode(summary_of(contact)),
        "state_doc": encode(record),
    }


@contextmanager
def _duplicates_named(contact: Contact) -> Iterator[None]:
    """A unique-name violation found by the database (a concurrent writer won the race) is a duplicate name."""
    try:
        yield
    except (IntegrityError, sqlite3.IntegrityError) as exc:
        reason = str(exc.orig if isinstance(exc, IntegrityError) else exc)
        if "contact_name_key" in reason or "uq_contacts" in reason:
            raise duplicate_name(contact.contact_name) from exc
        raise
