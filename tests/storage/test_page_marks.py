"""Deep-page marks kept across this process's writes (storage/page_marks.py): every deep page of a listing
with no filter but status is exactly what the plain OFFSET statement reads, through creates, renames, status
changes, deletes, refused writes, bursts that share a commit, and commits by other connections; and the marks
are really kept across the app's own writes (dropped only by a commit the ledger cannot account for)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from contextlib import closing
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import CONTACTS, Tenant
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.domain.listing import SORT_COLUMNS, parse_list_query
from zcontacts.storage import contacts as contacts_storage
from zcontacts.storage.contacts import _mark_sql, _shape, sqlite_page
from zcontacts.storage.database import Database
from zcontacts.storage.page_marks import MAX_LISTINGS, MarkLedger, Marks, Move, Position

pytestmark = pytest.mark.backends("sqlite")  # marks are the SQLite reader's

LISTINGS = [
    *[{"sort_column": c, "sort_order": o} for c in SORT_COLUMNS for o in "AD"],
    {"filter_by": "Status.Active"},
    {"filter_by": "Status.Inactive", "sort_column": "company_name", "sort_order": "D"},
    {"filter_by": "Status.Active", "sort_column": "created_time", "sort_order": "D"},
    {"company_name_startswith": "firm"},  # a filter: marks kept only until the next commit
]


def _position(name: str, *, status: str = "active", contact_id: int = 1) -> Position:
    return Position(status, name, "", "", 0, 0, contact_id)


def test_a_rank_moves_with_rows_before_its_key() -> None:
    marks = Marks(descending=False, organization_id=7, sort_column="contact_name")
    for rank, key in ((4, "d"), (8, "h"), (12, "m")):
        marks.add(rank, (key,))
    moves = [
        Move(7, None, _position("a")),  # before every mark
        Move(7, _position("h"), None),  # the row at a mark's key: that mark keeps its rank
        Move(7, _position("j"), _position("z")),  # from between h and m to the end
        Move(8, None, _position("a")),  # another organization
        Move(7, None, None, touched=True),  # only updated_at changed
    ]
    assert marks.apply(moves)
    assert marks.ranks == [5, 9, 11]
    assert marks.nearest(8) == (5, ("d",))
    assert marks.nearest(3) == (0, None)


def test_descending_and_status_listings() -> None:
    marks = Marks(descending=True, organization_id=1, status="active", sort_column="contact_name")
    for rank, key in ((4, "w"), (8, "m"), (12, "c")):
        marks.add(rank, (key,))
    assert marks.apply([Move(1, None, _position("x")), Move(1, None, _position("n", status="inactive"))])
    assert marks.ranks == [5, 9, 13]
    assert marks.apply([Move(1, _position("p"), _position("p", status="inactive"))])
    assert marks.ranks == [5, 8, 12]


def test_an_updated_time_listing_cannot_follow_an_update_it_was_not_told_about() -> None:
    marks = Marks(descending=False, organization_id=1, sort_column="last_modified_time")
    marks.add(4, (100, 9))
    assert not marks.apply([Move(1, None, None, touched=True)])


_rows = st.lists(
    st.tuples(st.sampled_from(["active", "inactive"]), st.integers(0, 5)), min_size=1, max_size=30
)


def _before(rows: dict[int, tuple[str, int]], key: tuple[int, ...], marks: Marks) -> int:
    """Brute force: how many rows of the listing come before `key`."""
    descending = marks.descending
    count = 0
    for contact_id, (status, sort_value) in rows.items():
        if marks.status is not None and status != marks.status:
            continue
        position = (sort_value, contact_id)
        count += position > key if descending else position < key
    return count


@settings(max_examples=200, deadline=None)
@given(
    start=_rows,
    changes=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["active", "inactive"]), st.integers(0, 5),
                               st.booleans()), max_size=20),
    descending=st.booleans(),
    status=st.sampled_from([None, "active"]),
    picks=st.lists(st.integers(0, 40), min_size=1, max_size=6),
)  # fmt: skip
def test_ranks_after_moves_match_a_recount(
    start: list[tuple[str, int]],
    changes: list[tuple[int, str, int, bool]],
    descending: bool,
    status: str | None,
    picks: list[int],
) -> None:
    """Marks (ties broken by id, either order, with or without a status filter) shifted by any creates,
    deletes and moves hold exactly the recount of rows before their keys."""
    rows = dict(enumerate(start, 1))
    marks = Marks(descending=descending, organization_id=1, status=status, sort_column="created_time")
    for pick in picks:  # marks at some rows' keys and between them
        key = (pick % 6, pick)
        marks.add(_before(rows, key, marks), key)
    moves = []
    for contact_id, new_status, new_value, delete in changes:
        old = rows.get(contact_id)
        old_position = None if old is None else Position(old[0], "", "", "", old[1], 0, contact_id)
        if delete:
            rows.pop(contact_id, None)
            new_position = None
        else:
            rows[contact_id] = (new_status, new_value)
            new_position = Position(new_status, "", "", "", new_value, 0, contact_id)
        moves.append(Move(1, old_position, new_position))
    assert marks.apply(moves)
    assert marks.ranks == [_before(rows, key, marks) for key in marks.keys]


def test_too_many_pending_moves_give_the_marks_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("zcontacts.storage.page_marks.MAX_PENDING_MOVES", 3)
    ledger = MarkLedger(lambda: 5)
    made = ledger.listing("k", 5, 5, lambda applied: Marks(descending=False, applied=applied))
    assert made is not None
    assert ledger.active
    assert ledger.begin(5)
    ledger.committed(True, [Move(1, None, _position("a"))] * 2)
    assert ledger.active
    assert ledger.begin(5)
    ledger.committed(True, [Move(1, None, _position("b"))] * 2)
    assert not ledger.active


def test_the_least_recently_used_listing_goes_first() -> None:
    ledger = MarkLedger(lambda: 5)

    def use(key: int) -> Marks | None:
        return ledger.listing(key, 5, 5, lambda applied: Marks(descending=False, applied=applied))

    kept = {key: use(key) for key in range(MAX_LISTINGS)}
    assert use(0) is kept[0]  # used again: now the most recent
    use(MAX_LISTINGS)  # one more: listing 1, the least recently used, goes
    assert ledger.listings() == MAX_LISTINGS
    assert use(0) is kept[0]
    assert use(1) is not kept[1]


def test_another_connections_commit_drops_everything_kept() -> None:
    ledger = MarkLedger(lambda: 5)
    assert ledger.listing("k", 5, 5, lambda applied: Marks(descending=False, applied=applied)) is not None
    assert ledger.begin(5)
    assert not ledger.begin(6)  # the writer's data_version moved: some other connection committed
    assert not ledger.active
    ledger.listing("k", 6, 7, lambda applied: Marks(descending=False, applied=applied))
    assert not ledger.begin(7)  # the chain starts from the version read before the snapshot began


@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("status", [None, "Status.Active"])
def test_finding_a_mark_walks_an_index(database: Database, status: str | None, backwards: bool) -> None:
    """A mark is found by walking one covering index from the nearest mark, either way: no table scan, no
    sort (EXPLAIN QUERY PLAN of every sort column and order)."""
    for column in SORT_COLUMNS:
        for order in "AD":
            params = [("sort_column", column), ("sort_order", order)]
            shape = _shape(parse_list_query([*params, *([("filter_by", status)] if status else [])]))
            sql = _mark_sql(shape, from_mark=True, backwards=backwards)
            plan = " / ".join(
                row[3] for row in database.fetch(f"EXPLAIN QUERY PLAN {sql}", [1] * sql.count("?"))
            )
            assert plan.startswith("SEARCH contacts USING COVERING INDEX"), plan
            assert "TEMP B-TREE" not in plan, plan


# ---- through the app, one event loop: the batches and the reader share a thread, as when served ----------


class _App:
    def __init__(self, database_url: str, tenant: Tenant, seed: int) -> None:
        settings = Settings(
            database_url=database_url, token_cache_seconds=0, rate_limit_per_minute=0, auto_migrate=False
        )
        self.app = create_app(settings)
        self.database: Database = self.app.state["database"]
        self.tenant = tenant
        self.file = database_url.removeprefix("sqlite:///")
        self.random = random.Random(seed)
        self.ids: list[str] = []
        self.made = 0
        self.drops = 0
        self.checked = 0
        self.moved: set[str] = set()  # name keys no longer match names: no duplicate-name check on them

    async def create(self, client: httpx.AsyncClient, name: str | None = None) -> httpx.Response:
        self.made += 1
        name = name or f"Person {self.random.randrange(10_000):04d}-{self.made}"
        body = {"contact_name": name, "company_name": f"Firm {self.random.randrange(3)}"}
        body["email"] = f"p{self.random.randrange(7)}@x.io"
        response = await client.post(CONTACTS, json=body, headers=self.tenant.headers)
        if response.status_code == 201:
            self.ids.append(response.json()["contact"]["contact_id"])
        return response

    def move_elsewhere(self, victim: str) -> None:
        self.moved.add(victim)
        with closing(sqlite3.connect(self.file)) as plain, plain:
            plain.execute(
                "UPDATE contacts SET contact_name_key = ? WHERE contact_id = ?",
                (f"aaa {self.made}", int(victim)),
            )
        self.made += 1

    def truth(self, params: dict[str, Any]) -> list[str]:
        """The page's plain OFFSET statement, on a connection of its own."""
        query = parse_list_query(list(params.items()))
        sql, parameters = sqlite_page(self.tenant.organization_id, query)
        with closing(sqlite3.connect(self.file)) as plain:
            rows = plain.execute(sql, parameters).fetchall()
        return [msgspec.json.decode(row[0])["contact_id"] for row in rows[: query.per_page]]

    async def check(self, client: httpx.AsyncClient) -> None:
        for listing in LISTINGS:
            for page, per_page in ((3, 5), (6, 3), (2, 7), (9, 2), (4, 4)):
                params = {**listing, "page": str(page), "per_page": str(per_page)}
                response = await client.get(CONTACTS, params=params, headers=self.tenant.headers)
                assert response.status_code == 200, response.text
                served = [c["contact_id"] for c in response.json()["customers"]]
                assert served == self.truth(params), (listing, page, per_page)
                self.checked += 1

    async def step(self, client: httpx.AsyncClient) -> bool:
        """One random write; True when it was this app's own (its marks must survive it)."""
        pick = self.random.random()
        victim = self.random.choice(self.ids)
        headers = self.tenant.headers
        if pick < 0.2:
            assert (await self.create(client)).status_code == 201
        elif pick < 0.3 and victim not in self.moved:  # refused: its savepoint rolls back, and its moves
            taken = (await client.get(f"{CONTACTS}/{victim}", headers=headers)).json()["contact"]
            assert (await self.create(client, taken["contact_name"])).status_code == 400
        elif pick < 0.45:
            name = f"Renamed {self.random.randrange(10_000):04d}-{self.made}"
            self.made += 1
            response = await client.put(f"{CONTACTS}/{victim}", json={"contact_name": name}, headers=headers)
            assert response.status_code == 200
        elif pick < 0.55:
            state = self.random.choice(["active", "inactive"])
            assert (await client.post(f"{CONTACTS}/{victim}/{state}", headers=headers)).status_code == 200
        elif pick < 0.65:  # notes only: the row keeps its indexed columns
            note = {"notes": f"note {self.made}"}
            assert (await client.put(f"{CONTACTS}/{victim}", json=note, headers=headers)).status_code == 200
        elif pick < 0.8:
            assert (await client.delete(f"{CONTACTS}/{victim}", headers=headers)).status_code == 200
            self.ids.remove(victim)
        elif pick < 0.9:  # a burst: these writes share one commit
            doomed = self.random.sample(self.ids, 2)
            replies = await asyncio.gather(
                *(self.create(client) for _ in range(3)),
                *(client.delete(f"{CONTACTS}/{d}", headers=headers) for d in doomed),
            )
            assert all(r.status_code in (200, 201) for r in replies)
            for d in doomed:
                self.ids.remove(d)
        else:  # another connection (another worker, the CLI) moves a row: nothing kept may survive it
            # In a thread: a refused write is answered before its batch commits, on this loop.
            await asyncio.to_thread(self.move_elsewhere, victim)
            return False
        return True


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_deep_pages_stay_exact_across_writes(
    database_url: str, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(contacts_storage, "PAGE_MARK_EVERY", 4)
    monkeypatch.setattr("zcontacts.storage.page_marks.MAX_LISTINGS", 16)  # all 13 kept across every write
    subject = _App(database_url, tenant, seed)
    drop = MarkLedger.drop

    def counted(ledger: MarkLedger) -> None:
        subject.drops += bool(ledger.listings())
        drop(ledger)

    monkeypatch.setattr(MarkLedger, "drop", counted)

    async def main() -> None:
        transport = httpx.ASGITransport(app=subject.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(45):
                assert (await subject.create(client)).status_code == 201
            await subject.check(client)
            ledger = subject.database.marks
            assert ledger is not None
            assert ledger.listings() == 13  # every listing without a filter but status
            for _ in range(40):
                drops = subject.drops
                own = await subject.step(client)
                await subject.check(client)
                if own:
                    assert subject.drops == drops, "an own write dropped the kept marks"
                    assert ledger.listings() == 13
                else:
                    assert subject.drops == drops + 1
            metrics = (await client.get("/metrics")).text
            assert 'zcontacts_page_mark_listings{backend="sqlite"} 13' in metrics
            assert f'zcontacts_page_mark_drops{{backend="sqlite"}} {subject.drops}' in metrics

    asyncio.run(main())
    subject.database.dispose()
    assert subject.database.marks is not None
    assert subject.database.marks.drops == subject.drops
    assert subject.checked == 41 * len(LISTINGS) * 5
