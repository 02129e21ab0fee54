"""The search index compactor (storage/search_index.py): once writes are quiet it merges SQLite's trigram
index into one segment without changing what any search finds, stops when a write arrives, and a server
reports it in /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.config import Settings
from zcontacts.storage import search_index
from zcontacts.storage.database import Database
from zcontacts.storage.search_index import IndexCompactor, segments

pytestmark = pytest.mark.backends("sqlite")

WORDS = ["Acme", "Zylo", "Straße", "Northwind", "Café", "Tea [x]*?", "日本語", "O'Neil"]
TERMS = ["acm", "zylo", "straß", "wind", "café", "[x]*", "日本", "o'ne", "ltd", "nomatch"]


def _path(database_url: str) -> str:
    return database_url.removeprefix("sqlite:///")


@contextlib.contextmanager
def _connection(path: str) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def _fragment(client: Any, tenant: Tenant, count: int, database_url: str) -> None:
    """`count` creates, each its own request, each moved into the index in a transaction of its own (as a
    server's batches are). FTS5's own merging is off (migration 0009), and the bounded merge after each batch
    waits for 16 segments on a level (`usermerge`, 4 by default), so each leaves a segment of its own (until
    FTS5's crisis merge at 16 on a level)."""
    with _connection(_path(database_url)) as connection:
        connection.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('usermerge', 16)")
        for n in range(count):
            make_contact(
                client,
                tenant,
                contact_name=f"{WORDS[n % len(WORDS)]} {WORDS[(n * 3) % len(WORDS)]} {n}",
                company_name=f"{WORDS[(n * 5) % len(WORDS)]} Ltd",
                email=f"person{n}@example.com",
            )
            assert search_index.apply_step(connection) >= 1


def _answers(client: Any, tenant: Tenant) -> dict[str, list[str]]:
    return {
        term: [
            c["contact_id"]
            for c in client.get(CONTACTS, params={"search_text": term}, headers=tenant.headers).json()[
                "customers"
            ]
        ]
        for term in TERMS
    }


async def _until_quiet(compactor: IndexCompactor, timeout: float = 20.0) -> None:
    """Run the compactor on this event loop until it reports nothing to do."""
    compactor.start()
    deadline = time.monotonic() + timeout
    await asyncio.sleep(compactor.poll_seconds * 2)
    while compactor.busy:
        assert time.monotonic() < deadline, "the compactor never went quiet"
        await asyncio.sleep(0.01)


def _run_quick(path: str, **options: Any) -> IndexCompactor:
    """A compactor with short timings, run on a new event loop until it goes quiet, then closed."""
    compactor = IndexCompactor(path, quiet_seconds=0.05, poll_seconds=0.01, **options)
    try:
        asyncio.run(_until_quiet(compactor))
    finally:
        compactor.close()
    return compactor


def test_a_merge_leaves_one_segment_and_the_same_answers(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    client = quiet_client
    _fragment(client, tenant, 24, database_url)
    path = _path(database_url)
    with _connection(path) as connection:
        assert segments(connection) > 1
    before = _answers(client, tenant)
    assert sum(map(len, before.values())) > 24  # the terms find customers

    compactor = _run_quick(path, max_segments=1)
    assert compactor.merges == 1
    with _connection(path) as connection:
        assert segments(connection) == 1
        connection.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('integrity-check', 1)")
    assert _answers(client, tenant) == before


def test_an_index_with_few_segments_is_left_alone(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    _fragment(quiet_client, tenant, 3, database_url)
    path = _path(database_url)
    with _connection(path) as connection:
        count = segments(connection)
    compactor = _run_quick(path, max_segments=count)
    assert compactor.merges == 0
    with _connection(path) as connection:
        assert segments(connection) == count


def test_a_write_stops_the_merge_until_writes_are_quiet_again(
    quiet_client: Any, tenant: Tenant, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fragment(quiet_client, tenant, 24, database_url)
    path = _path(database_url)
    steps: list[bool] = []
    real_step = search_index.merge_step

    def step_then_write(connection: sqlite3.Connection, pages: int = 1) -> bool:
        """Small steps; after the first, another connection commits (as a request would)."""
        did = real_step(connection, 1)
        steps.append(did)
        if len(steps) == 1:
            with _connection(path) as writer:
                writer.execute("UPDATE organizations SET name = name || '.'")
        return did

    monkeypatch.setattr(search_index, "merge_step", step_then_write)

    async def scenario(compactor: IndexCompactor) -> None:
        compactor.start()
        while not steps:
            await asyncio.sleep(0.005)
        while compactor._running:  # the first merge gives up after its first step
            await asyncio.sleep(0.005)
        # Stopped by the write, not by running out of work (that would have taken a second step).
        assert len(steps) == 1
        assert compactor.merges == 0
        assert compactor.busy
        await _until_quiet(compactor)  # the write is quiet again: the compactor finishes the job

    # Quiet long enough that the first merge is seen stopped before the second starts.
    compactor = IndexCompactor(path, quiet_seconds=0.3, poll_seconds=0.01, max_segments=1)
    try:
        asyncio.run(scenario(compactor))
    finally:
        compactor.close()
    assert not compactor.busy
    with _connection(path) as connection:
        assert segments(connection) == 1


@pytest.mark.parametrize(
    ("schema", "message", "traceback"),
    [
        # No trigram index at all: a server started with auto-migrate off on an old file. One line, no traceback.
        (
            "CREATE TABLE t (x)",
            "search index upkeep waits for the schema (no such table: contacts_fts_upkeep): "
            "run `zcontacts db upgrade`",
            False,
        ),
        # Anything else (a table that is not the schema's) is a fault worth its traceback.
        ("CREATE TABLE contacts_fts_upkeep (something_else INTEGER)", "search index merge failed", True),
    ],
)
def test_a_failing_merge_is_logged_once_and_not_retried_until_the_next_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, schema: str, message: str, traceback: bool
) -> None:
    path = str(tmp_path / "plain.db")
    with _connection(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(schema)
    with caplog.at_level(logging.WARNING, logger="zcontacts"):
        compactor = _run_quick(path)
    assert not compactor.busy
    assert compactor.merges == 0
    (record,) = [r for r in caplog.records if "search index" in r.getMessage()]
    assert record.getMessage() == message
    assert (record.exc_info is not None) is traceback


def test_only_sqlite_files_get_a_compactor(tmp_path: Path) -> None:
    memory = Database.from_url("sqlite://")
    on_file = Database.from_url(f"sqlite:///{tmp_path / 'z.db'}")
    turned_off = Database.from_url(f"sqlite:///{tmp_path / 'y.db'}", compact_search_index=False)
    try:
        assert memory.compactor is None
        assert turned_off.compactor is None
        assert on_file.compactor is not None
    finally:
        for database in (memory, on_file, turned_off):
            database.dispose()


def _gauge(client: Any) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("zcontacts_search_index_busy{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no zcontacts_search_index_busy gauge")


def _eventually(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_server_merges_once_writes_are_quiet(client: Any, tenant: Tenant, database_url: str) -> None:
    """The app starts its compactor: after writes it reports busy, then (writes quiet for a second) merges
    an index over MAX_SEGMENTS and reports idle."""
    _fragment(client, tenant, search_index.MAX_SEGMENTS + 4, database_url)
    path = _path(database_url)
    with _connection(path) as connection:
        assert segments(connection) > search_index.MAX_SEGMENTS
    assert _gauge(client) == 1
    assert _eventually(lambda: _gauge(client) == 0, timeout=15)
    with _connection(path) as connection:
        assert segments(connection) == 1


def test_the_setting_turns_it_off(quiet_client: Any) -> None:
    """ZCONTACTS_COMPACT_SEARCH_INDEX=false: no compactor, and /metrics has no gauge for it."""
    assert Settings.from_env({"ZCONTACTS_COMPACT_SEARCH_INDEX": "false"}).compact_search_index is False
    assert quiet_client.app.state.database.compactor is None
    assert "zcontacts_search_index_busy" not in quiet_client.get("/metrics").text


def _churn(client: Any, tenant: Tenant, database_url: str) -> None:
    """12 customers, each moved into the index on its own (a few segments); then 6 deleted and 2 renamed
    (8 unindex entries), 2 given new notes (none)."""
    _fragment(client, tenant, 12, database_url)
    found = client.get(CONTACTS, params={"per_page": 200}, headers=tenant.headers).json()["customers"]
    ids = sorted(c["contact_id"] for c in found)
    for contact_id in ids[:6]:
        assert client.delete(f"{CONTACTS}/{contact_id}", headers=tenant.headers).status_code == 200
    for n, contact_id in enumerate(ids[6:8]):
        renamed = {"contact_name": f"Renamed {n}"}
        assert client.put(f"{CONTACTS}/{contact_id}", json=renamed, headers=tenant.headers).status_code == 200
    for contact_id in ids[8:10]:
        noted = {"notes": "no key changes"}
        assert client.put(f"{CONTACTS}/{contact_id}", json=noted, headers=tenant.headers).status_code == 200
    with _connection(_path(database_url)) as connection:
        search_index.apply_step(connection)


def test_churn_gets_an_index_of_few_segments_merged(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    """Deletes and renames leave cancelled entries in the index; once they reach the share of the customers,
    an index of fewer than max_segments segments is merged too, and the count starts again."""
    _churn(quiet_client, tenant, database_url)
    path = _path(database_url)
    with _connection(path) as connection:
        assert (
            search_index.churn(connection) == 8
        )  # deletes and renames; a notes-only update unindexes nothing
        before = segments(connection)
    assert 1 < before < 100
    answers = _answers(quiet_client, tenant)
    assert len(_renamed(quiet_client, tenant)) == 2

    compactor = _run_quick(path, max_segments=100, churn_minimum=8, churn_share=0.5)  # 8 ≥ half of 6 left
    assert compactor.merges == 1
    with _connection(path) as connection:
        assert segments(connection) == 1
        assert search_index.churn(connection) == 0
        connection.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('integrity-check', 1)")
    assert _answers(quiet_client, tenant) == answers
    assert len(_renamed(quiet_client, tenant)) == 2


def _renamed(client: Any, tenant: Tenant) -> list[Any]:
    reply = client.get(CONTACTS, params={"search_text": "renamed"}, headers=tenant.headers)
    customers: list[Any] = reply.json()["customers"]
    return customers


@pytest.mark.parametrize(("minimum", "share"), [(9, 0.0), (1, 2.0)])
def test_churn_below_the_threshold_leaves_the_index_alone(
    quiet_client: Any, tenant: Tenant, database_url: str, minimum: int, share: float
) -> None:
    """Fewer cancelled entries than the minimum, or than the share of the customers: no merge, the count
    kept for later."""
    _churn(quiet_client, tenant, database_url)
    path = _path(database_url)
    with _connection(path) as connection:
        before = segments(connection)
    compactor = _run_quick(path, max_segments=100, churn_minimum=minimum, churn_share=share)
    assert compactor.merges == 0
    with _connection(path) as connection:
        assert segments(connection) == before
        assert search_index.churn(connection) == 8


def test_an_index_merged_by_other_means_starts_the_count_again(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    """One segment holds no cancelled entries, whoever merged it (FTS5's own merges, an 'optimize'): the
    compactor sets the count back to 0 and has nothing to merge."""
    _churn(quiet_client, tenant, database_url)
    path = _path(database_url)
    with _connection(path) as connection:
        connection.execute("INSERT INTO contacts_fts(contacts_fts) VALUES ('optimize')")
        assert (segments(connection), search_index.churn(connection)) == (1, 8)
    compactor = _run_quick(path, churn_minimum=1, churn_share=0.0)
    assert compactor.merges == 0
    with _connection(path) as connection:
        assert search_index.churn(connection) == 0


def test_the_indexed_row_count_is_ftss_own(quiet_client: Any, tenant: Tenant, database_url: str) -> None:
    """The churn share is taken of the rows the index holds, read from FTS5's averages record (no scan): it
    follows creates and deletes once the queue is applied."""
    with _connection(_path(database_url)) as connection:
        assert search_index.indexed_rows(connection) == 0  # never held a row: no record yet
    _churn(quiet_client, tenant, database_url)  # 12 created, 6 deleted, all applied
    with _connection(_path(database_url)) as connection:
        assert search_index.indexed_rows(connection) == 6
        (live,) = connection.execute("SELECT count(*) FROM contacts").fetchone()
        assert live == 6


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"\x05\x99", 5),
        (b"\x81\x00", 128),
        (b"\x87\x68", 1000),
        (b"\xbd\x84\x40", 1_000_000),
        (b"\xff" * 9, 2**64 - 1),
    ],
)
def test_varints_decode_as_sqlite_writes_them(data: bytes, value: int) -> None:
    assert search_index._varint(data) == value


def test_an_unreadable_averages_record_falls_back_to_counting() -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE contacts (contact_id INTEGER PRIMARY KEY)")
    connection.execute("CREATE TABLE contacts_fts_data (id INTEGER PRIMARY KEY, block BLOB)")
    connection.executemany("INSERT INTO contacts VALUES (?)", [(1,), (2,), (3,)])
    connection.execute("INSERT INTO contacts_fts_data VALUES (1, x'ff')")  # a varint cut short
    assert search_index.indexed_rows(connection) == 3


def test_a_truncated_varint_is_refused() -> None:
    with pytest.raises(ValueError, match="truncated"):
        search_index._varint(b"\x81\x82")
