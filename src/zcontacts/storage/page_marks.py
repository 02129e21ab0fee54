"""Where deep list pages start, kept exact across this process's own writes (SQLite).

OFFSET steps over every skipped row, so a reader remembers "marks" of a listing: a mark (rank, key) says that
exactly `rank` rows of the listing come before the sort position `key` (storage/contacts.py seeks to a mark and
skips the rest with OFFSET). Until session 23 every commit dropped every mark, so the first deep page after any
write walked OFFSET again: 30-55 ms for the last page of 1,000,000 customers.

A mark stays exact when a row enters or leaves the listing: a row at a position before the mark's key moves its
rank by one, any other row leaves it as it was. So for listings with no filter but status and no search (the
ones that run to a million rows), the marks live in a `MarkLedger` beside the group-commit writer. Every write of
a batch the ledger tracks records what it did to a contact's sort position (`Move`), and the reader applies the
committed batches' moves before it uses the marks.

That needs to know that this process's batches are the only commits since the marks were found. SQLite's
`PRAGMA data_version` on the writer's own connection changes only when another connection commits, so a reader
reads it just after its snapshot begins: unchanged since the marks were found means its snapshot holds no other
connection's commit (while a batch is open, the writer's value is the one its BEGIN IMMEDIATE saw, and nothing
else can commit until its COMMIT), only this process's batches, and each of those is in the log. Each batch also
checks it right after BEGIN IMMEDIATE, so that once another connection (a worker, the CLI, a write outside group
commit) has committed, the marks go at once and later writes stop recording. A write that changes contacts
without saying how (`UNKNOWN`: a reset of an organization) drops every mark at its commit. Anything the ledger
cannot vouch for is read again with OFFSET, as before (bench/deep_pages.py measures both)."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple

# Pending moves a ledger keeps before it gives up its marks: a listing catches up on them at ~3 µs a move when
# next read (~6 ms at this bound, against 30-55 ms to walk to the last page of a million), and writes stop
# paying to record them once nobody reads deep pages.
MAX_PENDING_MOVES = 2048
# Listings whose marks a ledger keeps (the least recently used go first): a million-row listing paged end to end
# holds up to ~10,000 marks, ~1.7 MB.
MAX_LISTINGS = 8
# What a batch's writes say about contacts: recorded in Connection.info under this key while a batch is tracked.
MOVES_KEY = "zcontacts.page_moves"


class Position(NamedTuple):
    """What a contact's place in a listing with no filter but status depends on."""

    status: str
    name_key: str
    company_key: str
    email_key: str
    created_at_ms: int
    updated_at_ms: int
    contact_id: int


class Move(NamedTuple):
    """One write's effect on a contact's listings: where it was (None: it was not there) and where it is now
    (None: deleted). `touched`: an update that changed no indexed column, only updated_at (old value unread)."""

    organization_id: int
    old: Position | None
    new: Position | None
    touched: bool = False


UNKNOWN = None  # a write that changed contacts in a way it does not describe


def sort_key(position: Position, sort_column: str) -> tuple[Any, ...]:
    """A row's key in a listing's order: as the mark queries return it (names are unique: no id)."""
    if sort_column == "contact_name":
        return (position.name_key,)
    if sort_column == "company_name":
        return (position.company_key, position.contact_id)
    if sort_column == "email":
        return (position.email_key, position.contact_id)
    if sort_column == "created_time":
        return (position.created_at_ms, position.contact_id)
    return (position.updated_at_ms, position.contact_id)


def seek_parameters(mark: tuple[Any, ...]) -> tuple[Any, ...]:
    """A mark's parameters for a seek clause (storage/contacts.py, _seek_clause): a name's key alone (names are
    unique), else the key twice (its range, then ties) and the id."""
    if len(mark) == 1:
        return mark
    key, contact_id = mark
    return key, key, contact_id


def snapshot_marks(facts: dict[Any, Any], listing: Hashable, descending: bool) -> Marks:
    """A listing's marks kept in a snapshot's facts (Reader.snapshot), so until any commit: for listings the ledger
    does not follow (a filter or a search), whichever plan reads their deep pages."""
    marks: Marks | None = facts.get(listing)
    if marks is None:
        marks = facts[listing] = Marks(descending=descending)
    return marks


class _Reversed:
    """A key compared the other way round: bisect over a descending listing."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return other.key < self.key


class Marks:
    """The marks of one listing, in listing order (ranks never decrease along it)."""

    __slots__ = ("applied", "descending", "keys", "organization_id", "ranks", "sort_column", "status")

    def __init__(
        self,
        *,
        descending: bool,
        organization_id: int = 0,
        status: str | None = None,
        sort_column: str = "",
        applied: int = 0,
    ) -> None:
        self.descending = descending
        self.keys: list[tuple[Any, ...]] = []
        self.ranks: list[int] = []
        self.organization_id = organization_id
        self.status = status
        self.sort_column = sort_column
        self.applied = applied  # the last batch of the ledger's log these marks include

    def nearest(self, offset: int) -> tuple[int, tuple[Any, ...] | None]:
        """The mark with the largest rank at or before `offset`; (0, None) is the listing's start."""
        index = bisect_right(self.ranks, offset) - 1
        return (0, None) if index < 0 else (self.ranks[index], self.keys[index])

    def following(self, offset: int) -> tuple[int, tuple[Any, ...]] | None:
        """The mark with the smallest rank after `offset`, if any."""
        index = bisect_right(self.ranks, offset)
        return (self.ranks[index], self.keys[index]) if index < len(self.ranks) else None

    def add(self, rank: int, key: tuple[Any, ...]) -> None:
        index = self._after(key)
        if index and self.keys[index - 1] == key:
            return
        self.keys.insert(index, key)
        self.ranks.insert(index, rank)

    def add_page(self, offset: int, per_page: int, rows: Sequence[Sequence[Any]]) -> None:
        """Marks at a page's first row and its look-ahead row (the next page's first), the page read `offset`
        rows into the listing as (list row, *sort key) rows: the page read again, or the next one, starts there."""
        for at in (0, per_page):
            if at < len(rows):
                self.add(offset + at, tuple(rows[at][1:]))

    def _after(self, key: tuple[Any, ...]) -> int:
        """Index of the first mark whose key comes after `key` in the listing's order."""
        if self.descending:
            return bisect_right(self.keys, _Reversed(key), key=_Reversed)
        return bisect_right(self.keys, key)

    def apply(self, moves: list[Move]) -> bool:
        """Shift ranks for `moves`; False when one of them cannot be followed (the marks must go)."""
        if not self.keys:
            return True
        shift = [0] * (len(self.keys) + 1)
        for move in moves:
            if move.organization_id != self.organization_id:
                continue
            if move.touched:
                if self.sort_column == "last_modified_time":
                    return False  # its old place is unknown
                continue
            for position, step in ((move.old, -1), (move.new, 1)):
                if position is not None and (self.status is None or position.status == self.status):
                    # The row is before every mark whose key comes after its own.
                    shift[self._after(sort_key(position, self.sort_column))] += step
        total = 0
        ranks = self.ranks
        for index in range(len(ranks)):
            total += shift[index]
            if total:
                ranks[index] += total
        return True


class MarkLedger:
    """Marks of unfiltered listings, kept across the writes of this process's group-commit batches (see the
    module's docstring). One per Database; used only on the thread its batches run on (the event loop)."""

    def __init__(self, writer_version: Callable[[], int | None]) -> None:
        self._writer_version = writer_version
        self.thread: int | None = None
        self._baseline: int | None = None  # the writer's data_version the log is valid from
        self._seq = 0  # batches committed while tracked
        self._log: list[tuple[int, list[Move]]] = []
        self._pending = 0
        self._listings: dict[Hashable, Marks] = {}
        self.drops = 0  # times kept marks were given up (for /metrics)

    @property
    def active(self) -> bool:
        """Whether batches record their moves (only while some marks are kept)."""
        return bool(self._listings)

    def usable(self) -> bool:
        return self.thread is not None and self.thread == threading.get_ident()

    def writer_version(self) -> int | None:
        return self._writer_version()

    def begin(self, version: int) -> bool:
        """A batch has begun (write lock held) with the writer at `version`: True when it is to record its
        moves; any other connection's commit since the last check drops the marks. (Called while marks are
        kept: `active`.)"""
        if version != self._baseline:
            self.drop()
            return False
        return True

    def committed(self, tracked: bool, moves: list[Move | None]) -> None:
        """A batch committed. An untracked batch while marks are kept (they were found during it), or a write
        that did not describe itself, drops them."""
        if not self._listings:
            return
        if not tracked or UNKNOWN in moves:
            self.drop()
            return
        self._seq += 1
        if moves:
            described = [move for move in moves if move is not None]
            self._log.append((self._seq, described))
            self._pending += len(described)
            if self._pending > MAX_PENDING_MOVES:
                self.drop()

    def listing(
        self, key: Hashable, before: int | None, after: int | None, new: Callable[[int], Marks]
    ) -> Marks | None:
        """The marks of listing `key`, exact for a snapshot begun between reading the writer's data_version as
        `before` and as `after`; None when the ledger cannot vouch for any (no writer connection)."""
        if before is None or after is None:
            return None
        if after != self._baseline:
            # Another connection committed since the last check (or nothing is kept yet): start again from a
            # version read before the snapshot began, so a commit that slipped in between is seen next time.
            self.drop()
            self._baseline = before
        marks = self._listings.pop(key, None)
        if marks is None:
            marks = new(self._seq)
        elif not self._catch_up(marks):
            marks = new(self._seq)
        self._listings[key] = marks  # most recently used last
        while len(self._listings) > MAX_LISTINGS:
            del self._listings[next(iter(self._listings))]
        self._trim()
        return marks

    def _catch_up(self, marks: Marks) -> bool:
        for seq, moves in self._log:
            if seq > marks.applied and not marks.apply(moves):
                return False
        marks.applied = self._seq
        return True

    def _trim(self) -> None:
        """Forget the batches every kept listing has caught up on."""
        oldest = min(marks.applied for marks in self._listings.values())
        if not self._log or self._log[0][0] > oldest:
            return
        self._log = [(seq, moves) for seq, moves in self._log if seq > oldest]
        self._pending = sum(len(moves) for _, moves in self._log)

    def drop(self) -> None:
        """Forget every mark and move: the next deep page walks OFFSET and starts again."""
        self.drops += bool(self._listings)
        self._listings.clear()
        self._log.clear()
        self._pending = 0
        self._baseline = None

    def listings(self) -> int:
        """How many listings' marks are kept (for /metrics)."""
        return len(self._listings)
