"""PostgreSQL list pages whose matches sit together somewhere along the sort order.

PostgreSQL plans a filtered page as if the matches were spread evenly along the sort: it walks the sort's index
and tests each row, which is right for most filters (a page after a few hundred rows). But names, emails and
companies are made of each other, so a name prefix's matches can all sit at one end of email order, or a
first-name prefix's at the far end of a descending name walk: over 1,000,000 customers such pages took 1.5–3.4 s
(`python -m bench.pg_audit`). Nothing in the statistics says where the matches sit, so the walk runs under a
deadline; past it, the page is read matches first: every match's id and sort key from the filter's own index
(a subquery fenced by OFFSET 0, so the planner cannot turn it back into the walk), the page's ids sorted out of
those, then their list rows. Both statements are the same listing; only their cost differs.

Reading matches first cost 50–300 ms for a filter with tens of thousands of matches (session 36), so it is a safety
net for walks gone far astray, and the deadline is long enough that a walk which finds its page in time is never cut
short. (Since session 42 a substring, a search or a name part's substring is read matches first from indexes alone,
6–29 ms for ~25,000 matches: ContactsRepo.matches_first_statement.) Over 1,000,000 customers the audit's slow walks
fall in two groups: 182 pages at 20–150 ms, 6 at 150–250 ms, and 92 at 1.0–3.4 s. With the deadline at 300 ms the
pages at or over 20 ms took 72 s in all instead of 188 s (301 pages against 280: the slow walks' times vary ±30 %
from run to run); at 10 ms, 504 pages were at or over 20 ms (walks of 10–150 ms cut short for a slower read). A term
under 3 characters is read without bitmap scans (see _NO_BITMAP_SCANS): `first_name_contains=iv` 1.1–1.5 s → ~0.5 s,
none over a second.

A listing whose walk ran past the deadline is remembered for a while (`_astray`): its next pages, and the same
page asked for again, are read matches first without paying the deadline again, since where a filter's matches
sit changes slowly. A deeper page walks further, so a listing is remembered from the shallowest page that went
astray: a shallower one still walks.

Since session 39 the walk reads the page's ids from an index that carries every key the listing tests, alone
(ContactsRepo.walk_statement, migration 0017), ~5x faster an entry, so walks of clustered matches often end inside
the deadline yet take longer than the matches-first read: a page whose walk is slow (SLOW_WALK_SECONDS) is read
matches first once, timed, and then the clearly faster way (`_slow_walks`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.exc import OperationalError

# How long a walk may take before the page is read matches first (see above), unless the engine's connections
# carry their own (the `postgres_walk_deadline_ms` setting, storage/engine.py); 0 lets every walk run to its end.
WALK_DEADLINE_MS = 300
WALK_DEADLINE = "zcontacts_walk_deadline_ms"  # its key in a pooled connection's info
# PostgreSQL's SQLSTATE for a statement cancelled, by statement_timeout among others.
_QUERY_CANCELED = "57014"

# One round trip each. Rolling back to the savepoint ends the deadline (a SET LOCAL after a savepoint goes with
# it) and, after a cancelled walk, the aborted state; the walk only read, so nothing else is undone.
_BEGIN = "SAVEPOINT zc_walk; SET LOCAL statement_timeout = '{}ms'"
_END = "ROLLBACK TO SAVEPOINT zc_walk; RELEASE SAVEPOINT zc_walk"
# A term under 3 characters gives pg_trgm no trigram: its bitmap scan would return every row to be rechecked
# (1.1–1.8 s over 1,000,000), where the filter's covering index, read whole, takes ~0.3 s. Bitmap scans are off
# for that read only (until _END).
_NO_BITMAP_SCANS = "; SET LOCAL enable_bitmapscan = off"
# Every matches-first read runs without JIT compilation (until _END): a broad filter's read is costed over
# PostgreSQL's jit_above_cost (288 of the audit's 1,240 pages), and JIT then added 20-50 ms to a 350 ms read, and
# 2.1 s to the first one a connection made (loading the JIT library); its plans are index reads that JIT cannot
# speed up.
_NO_JIT = "SAVEPOINT zc_walk; SET LOCAL jit = off"

# Listings (a page's shape without its page) whose walk went past the deadline, per process: the shallowest
# offset that did, and until when (time.monotonic()) the walk is skipped from there on.
ASTRAY_SECONDS = 600.0
ASTRAY_LISTINGS = 4096  # then forgotten all at once: a bound on memory, not a cache policy
_astray: dict[Hashable, tuple[int, float]] = {}
_astray_lock = threading.Lock()
# A page whose walk finished within the deadline but took this long or more is read matches first once, timed,
# and from then on the faster way: a walk along an index that carries every key (ContactsRepo.walk_statement)
# passes ~3 entries a µs, so matches that sit together far along the order can take it most of the deadline
# (`search_text=ivan` by email descending: a 236 ms walk, 110 ms matches first), where spread ones are found at
# once and a broad filter's matches-first read takes longer (`first_name_contains=iv` by email: 130 ms walked,
# 262 ms matches first). Not lower: a matches-first read often costs 100-200 ms, too much to try on a page whose
# walk takes 20-30 ms cold and 15 warm.
SLOW_WALK_SECONDS = 0.050
# ... when it took under half the walk's time: a page's first walk is often its coldest read, so a narrow margin
# would trade a walk that gets faster for a read that does not.
CLEARLY_FASTER = 2.0
# Per page ((listing, offset)): its last walk's seconds, its matches-first read's (None: not yet timed) and until
# when (time.monotonic()) the two are trusted (ASTRAY_SECONDS, at most ASTRAY_LISTINGS pages).
_slow_walks: dict[tuple[Hashable, int], tuple[float, float | None, float]] = {}

# Name parts: a first or last name substring is read matches first as the values that hold it while the
# organization has at most VALUES_MOST of them (few_values), SQLite's value plan's bound.
VALUED = frozenset(("first_name", "last_name"))
VALUES_MOST = 512  # value_plan.CAP (not imported: value_plan's imports lead back to this module)
# Per (organization, field): whether it had few values, and until when (time.monotonic()) that is trusted.
_few_values: dict[Hashable, tuple[bool, float]] = {}


def page_rows(
    connection: Connection,
    walk: Select[Any],
    matches_first: Select[Any] | Callable[[], Select[Any]],
    *,
    short_term: bool = False,
    listing: Hashable = None,
    offset: int = 0,
) -> list[bytes]:
    """The page's list rows: `walk` within the deadline, else `matches_first` (or the statement it builds, built
    only then; inside the caller's transaction). `short_term`: the listing holds a substring under 3 characters
    (see _NO_BITMAP_SCANS). `listing` (hashable, the same for every page of one listing) and `offset`: the page,
    for remembering walks gone astray and slow ones (SLOW_WALK_SECONDS); None remembers nothing."""
    deadline = int(connection.info.get(WALK_DEADLINE, WALK_DEADLINE_MS))
    if deadline <= 0:
        return _rows(connection, walk)
    if listing is not None and _went_astray(listing, offset):
        return _matches_first(connection, matches_first, short_term)
    page = None if listing is None else (listing, offset)
    timed = None if page is None else _slow_walks.get(page)
    if timed is not None and time.monotonic() >= timed[2]:
        timed = None  # past its time: walked again, and timed afresh if still slow
    if page is not None and timed is not None:
        walk_seconds, first_seconds, _ = timed
        if first_seconds is None:  # the walk was slow: read the page the other way once, and time it
            started = time.perf_counter()
            rows = _matches_first(connection, matches_first, short_term)
            _remember_walk(page, walk_seconds, time.perf_counter() - started)
            return rows
        if first_seconds * CLEARLY_FASTER < walk_seconds:
            return _matches_first(connection, matches_first, short_term)
    started = time.perf_counter()
    connection.exec_driver_sql(_BEGIN.format(deadline))
    try:
        found = connection.execute(walk).all()
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _QUERY_CANCELED:
            raise
        if listing is not None:
            _remember_astray(listing, offset)
        connection.exec_driver_sql(_END)
        return _matches_first(connection, matches_first, short_term)
    connection.exec_driver_sql(_END)
    seconds = time.perf_counter() - started
    if page is not None and (seconds >= SLOW_WALK_SECONDS or timed is not None):
        _remember_walk(page, seconds, None if timed is None else timed[1])
    return [bytes(row[0]) for row in found]


def _rows(connection: Connection, statement: Select[Any]) -> list[bytes]:
    return [bytes(row[0]) for row in connection.execute(statement)]


def _matches_first(
    connection: Connection, matches_first: Select[Any] | Callable[[], Select[Any]], short_term: bool
) -> list[bytes]:
    statement = matches_first if isinstance(matches_first, Select) else matches_first()
    connection.exec_driver_sql(_NO_JIT + (_NO_BITMAP_SCANS if short_term else ""))
    # An error here aborts the caller's transaction, which ends the SET LOCAL with it.
    rows = _rows(connection, statement)
    connection.exec_driver_sql(_END)
    return rows


def _remember_walk(page: tuple[Hashable, int], walk_seconds: float, first_seconds: float | None) -> None:
    with _astray_lock:
        if len(_slow_walks) >= ASTRAY_LISTINGS:
            _slow_walks.clear()
        known, now = _slow_walks.get(page), time.monotonic()
        until = known[2] if known is not None and now < known[2] else now + ASTRAY_SECONDS
        _slow_walks[page] = (walk_seconds, first_seconds, until)


def _went_astray(listing: Hashable, offset: int) -> bool:
    known = _astray.get(listing)
    return known is not None and offset >= known[0] and time.monotonic() < known[1]


def _remember_astray(listing: Hashable, offset: int) -> None:
    with _astray_lock:
        if len(_astray) >= ASTRAY_LISTINGS:
            _astray.clear()
        # Only a page shallower than the one remembered (or past its time) walks, so this one is the shallowest.
        _astray[listing] = (offset, time.monotonic() + ASTRAY_SECONDS)


def few_values(connection: Connection, key: Hashable, counting: Callable[[int], Select[Any]]) -> bool:
    """Whether a name part (VALUED; `key`: the organization and field) holds at most VALUES_MOST distinct values,
    so that a substring of it is best read as the values holding it (ContactsRepo.matches_first_statement).
    `counting(most)` counts them up to `most`, by stepping along the field's index (~20 ms at most); the answer is
    kept per process for ASTRAY_SECONDS: a count that grows past the bound meanwhile costs time, never rows (the
    page's own statement finds every value)."""
    known = _few_values.get(key)
    if known is not None and time.monotonic() < known[1]:
        return known[0]
    few = bool(connection.execute(counting(VALUES_MOST + 1)).scalar_one() <= VALUES_MOST)
    with _astray_lock:
        if len(_few_values) >= ASTRAY_LISTINGS:
            _few_values.clear()
        _few_values[key] = (few, time.monotonic() + ASTRAY_SECONDS)
    return few


def forget_astray() -> None:
    """Forget every walk gone astray, every slow walk's timing and every count of values (tests, and
    bench.pg_audit's first reads)."""
    with _astray_lock:
        _astray.clear()
        _slow_walks.clear()
        _few_values.clear()
