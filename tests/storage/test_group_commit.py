"""Group commit on SQLite: the writes of one event-loop turn share one COMMIT, each in its own savepoint. A
write that fails changes nothing and the others still commit; a failed COMMIT fails every write of its batch
and keeps none; nobody is answered before the commit."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import IntegrityError

from tests.helpers import CONTACTS, Tenant
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.errors import ServiceBusy
from zcontacts.storage import database as database_module
from zcontacts.storage.consistency import check_contacts
from zcontacts.storage.database import Database

pytestmark = pytest.mark.backends("sqlite")

_ROWS = "CREATE TABLE IF NOT EXISTS probe (n INTEGER PRIMARY KEY)"


def _insert(n: int) -> Any:
    def work(connection: Connection) -> int:
        connection.execute(text("INSERT INTO probe (n) VALUES (:n)"), {"n": n})
        return n

    return work


def _rows(database: Database) -> list[int]:
    return database.run(
        lambda c: [r[0] for r in c.execute(text("SELECT n FROM probe ORDER BY n"))], write=False
    )


def _count_commits(database: Database) -> list[int]:
    commits: list[int] = []
    event.listen(database.engine, "commit", lambda _connection: commits.append(1))
    return commits


def _setup(database_url: str, group_commit: bool = True) -> Database:
    database = Database.from_url(database_url, group_commit=group_commit)
    database.run(lambda c: c.execute(text(_ROWS)), write=True)
    return database


def test_writes_of_one_loop_turn_share_one_commit(database_url: str) -> None:
    database = _setup(database_url)
    commits = _count_commits(database)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(database.write(_insert(n)) for n in range(10))))

    assert asyncio.run(main()) == list(range(10))
    assert len(commits) == 1
    assert _rows(database) == list(range(10))
    database.dispose()


def test_without_group_commit_each_write_commits_alone(database_url: str) -> None:
    database = _setup(database_url, group_commit=False)
    commits = _count_commits(database)

    async def main() -> None:
        await asyncio.gather(*(database.write(_insert(n)) for n in range(5)))

    asyncio.run(main())
    assert len(commits) == 5
    assert _rows(database) == list(range(5))
    database.dispose()


def test_a_failing_write_changes_nothing_and_the_others_commit(database_url: str) -> None:
    database = _setup(database_url)

    def half_then_fail(connection: Connection) -> None:
        connection.execute(text("INSERT INTO probe (n) VALUES (100)"))
        raise ValueError("refused after a statement")

    _fails_alone_between_two_writes(database, half_then_fail)
    database.dispose()


def _fails_alone_between_two_writes(database: Database, failing: Any) -> None:
    """Run `failing` in one batch between two good writes: it raises, they commit, it leaves nothing."""

    async def main() -> list[Any]:
        writes = [database.write(_insert(1)), database.write(failing), database.write(_insert(2))]
        return list(await asyncio.gather(*writes, return_exceptions=True))

    first, failed, second = asyncio.run(main())
    assert (first, second) == (1, 2)
    assert isinstance(failed, ValueError)
    assert _rows(database) == [1, 2]


def test_batches_keep_their_journals_in_memory_on_a_connection_of_their_own(database_url: str) -> None:
    """temp_store=MEMORY on the connection batches run on (no temporary file per write), kept from batch to
    batch; the pooled connections keep SQLite's default, which a CLI reset of a million rows needs."""
    database = _setup(database_url)
    drivers: list[sqlite3.Connection] = []

    def wide_then_fail(connection: Connection) -> None:
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        drivers.append(driver)
        assert driver.execute("PRAGMA temp_store").fetchone() == (2,)
        # Far past the 64 KiB at which SQLite spills a sub-journal to a file: it is rolled back from memory.
        connection.execute(
            text("INSERT INTO probe (n) VALUES (:n)"), [{"n": 1000 + i} for i in range(20_000)]
        )
        connection.execute(text("UPDATE probe SET n = n + 100000"))
        raise ValueError("refused after wide statements")

    def note_driver(connection: Connection) -> None:
        drivers.append(connection.connection.driver_connection)  # type: ignore[arg-type]

    _fails_alone_between_two_writes(database, wide_then_fail)
    asyncio.run(database.write(note_driver))
    assert drivers[1] is drivers[0]  # the next batch, on the same connection
    pooled = database.run(lambda c: c.exec_driver_sql("PRAGMA temp_store").scalar(), write=False)
    assert pooled == 0
    database.dispose()


def test_a_failed_commit_leaves_no_transaction_behind(database_url: str) -> None:
    """The connection a failed COMMIT ran on is not used again: SQLite keeps that transaction open."""
    database = _setup(database_url)
    drivers: list[Any] = []

    def note_driver(connection: Connection) -> None:
        drivers.append(connection.connection.driver_connection)

    asyncio.run(database.write(note_driver))
    with pytest.raises(IntegrityError):
        asyncio.run(database.write(_dangling))
    asyncio.run(database.write(note_driver))
    assert drivers[1] is not drivers[0]
    assert not drivers[1].in_transaction
    database.dispose()


def _dangling(connection: Connection) -> None:
    # A foreign key checked only at COMMIT: the statement succeeds, the commit fails.
    connection.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
    connection.exec_driver_sql(
        "INSERT INTO contact_addresses (address_id, contact_id, organization_id, kind, attention, address, "
        "city, state, zip, country, fax) VALUES (1, 424242, 1, 'billing', '', '', '', '', '', '', '')"
    )


def test_a_failed_commit_fails_every_write_of_its_batch_and_keeps_none(database_url: str) -> None:
    database = _setup(database_url)

    async def main() -> list[Any]:
        writes = [database.write(_insert(1)), database.write(_dangling), database.write(_insert(2))]
        return list(await asyncio.gather(*writes, return_exceptions=True))

    results = asyncio.run(main())
    assert all(isinstance(result, Exception) for result in results), results
    assert _rows(database) == []
    count = database.run(
        lambda c: c.exec_driver_sql("SELECT count(*) FROM contact_addresses").scalar(), write=False
    )
    assert count == 0
    # The next batch starts clean.
    asyncio.run(database.write(_insert(3)))
    assert _rows(database) == [3]
    database.dispose()


def test_a_failed_commit_leaves_no_transaction_open(database_url: str) -> None:
    """Without group commit too: the pooled connection whose COMMIT failed is rolled back before reuse."""
    database = _setup(database_url, group_commit=False)
    for _ in range(3):
        with pytest.raises(Exception, match="FOREIGN KEY"):
            asyncio.run(database.write(_dangling))
        asyncio.run(database.write(_insert(len(_rows(database)))))
    assert _rows(database) == [0, 1, 2]
    database.dispose()


def test_nobody_is_answered_before_the_commit(database_url: str) -> None:
    database = _setup(database_url)
    seen: list[list[int]] = []

    async def write_then_look(n: int) -> None:
        await database.write(_insert(n))
        # A separate connection (another process, say) already sees this write once it has been answered.
        seen.append(_rows(database))

    async def main() -> None:
        await asyncio.gather(*(write_then_look(n) for n in range(4)))

    asyncio.run(main())
    assert all(rows == [0, 1, 2, 3] for rows in seen)
    database.dispose()


def test_concurrent_creates_over_http(database_url: str, database: Database, tenant: Tenant) -> None:
    """Twenty creates at once through the app, one of them a duplicate name: every unique one is 201 and
    stored, the duplicate is refused alone, and the rows agree with the records."""
    app = create_app(
        Settings(
            database_url=database_url, token_cache_seconds=0, rate_limit_per_minute=0, auto_migrate=False
        )
    )
    names = [f"Batch {n}" for n in range(20)] + ["Batch 7"]

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            creates = [
                client.post(CONTACTS, json={"contact_name": name}, headers=tenant.headers) for name in names
            ]
            return list(await asyncio.gather(*creates))

    replies = asyncio.run(main())
    statuses = [reply.status_code for reply in replies]
    assert statuses.count(201) == 20, statuses
    assert statuses.count(400) == 1, statuses
    refused = replies[statuses.index(400)].json()
    assert refused["code"] != 0
    assert "exists" in refused["message"].lower()
    stored = database.run(
        lambda c: sorted(r[0] for r in c.exec_driver_sql("SELECT contact_name FROM contacts")), write=False
    )
    assert stored == sorted(set(names))
    org = tenant.organization_id
    assert database.run(lambda c: check_contacts(c, org), write=False) == []


def _hold_write_lock(database_url: str) -> sqlite3.Connection:
    """Another process's writer, as far as this one can tell: a connection of its own in BEGIN IMMEDIATE."""
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_write_waits_for_another_writer_without_stopping_the_loop(database_url: str) -> None:
    database = _setup(database_url)
    other = _hold_write_lock(database_url)

    async def main() -> tuple[int, int, list[int]]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        clock = asyncio.create_task(ticker())
        writes = [asyncio.create_task(database.write(_insert(n))) for n in range(3)]
        await asyncio.sleep(0.25)
        waiting = sum(not write.done() for write in writes)
        seen = ticks
        other.execute("COMMIT")
        done = [await write for write in writes]
        clock.cancel()
        return waiting, seen, done

    waiting, ticks, done = asyncio.run(main())
    assert waiting == 3  # none could write while the lock was held
    assert (
        ticks >= 20
    )  # the event loop went on serving meanwhile (SQLite's busy handler would have blocked it)
    assert done == [0, 1, 2]
    assert _rows(database) == [0, 1, 2]
    other.close()
    database.dispose()


def test_a_write_lock_held_too_long_is_a_503(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_module, "BUSY_SECONDS", 0.2)
    database = _setup(database_url)
    other = _hold_write_lock(database_url)

    async def main() -> list[Any]:
        return list(
            await asyncio.gather(*(database.write(_insert(n)) for n in range(2)), return_exceptions=True)
        )

    assert all(isinstance(result, ServiceBusy) for result in asyncio.run(main()))
    other.execute("ROLLBACK")
    other.close()
    asyncio.run(database.write(_insert(7)))  # the next write takes the free lock at once
    assert _rows(database) == [7]
    database.dispose()


def test_writes_cancelled_while_waiting_for_the_lock_do_not_keep_it(database_url: str) -> None:
    """Every write waiting for another process's lock is cancelled: once the lock is free, this process takes
    it, commits nothing and lets it go, so other writers (another process here) are not locked out."""
    database = _setup(database_url)
    other = _hold_write_lock(database_url)

    async def main() -> None:
        writes = [asyncio.create_task(database.write(_insert(n))) for n in range(2)]
        await asyncio.sleep(0.05)
        for write in writes:
            write.cancel()
        other.execute("COMMIT")
        await asyncio.sleep(0.1)  # the acquisition retries, takes the lock, commits the empty batch

    asyncio.run(main())
    other.execute("BEGIN IMMEDIATE")  # free again: would fail with "database is locked" if still held
    other.execute("INSERT INTO probe (n) VALUES (9)")
    other.execute("COMMIT")
    other.close()
    assert _rows(database) == [9]
    database.dispose()


def test_a_failure_to_begin_leaves_no_batch_behind(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = _setup(database_url)
    begin = database_module._Batch.try_begin
    failures = iter([True])

    def failing_once(batch: Any) -> bool:
        if next(failures, False):
            batch.connection.close()
            raise sqlite3.OperationalError("disk I/O error")
        return begin(batch)

    monkeypatch.setattr(database_module._Batch, "try_begin", failing_once)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        asyncio.run(database.write(_insert(1)))
    asyncio.run(
        asyncio.wait_for(database.write(_insert(2)), 5)
    )  # a fresh batch (joining the failed one hung)
    assert _rows(database) == [2]
    database.dispose()


def test_group_commit_setting(database_url: str) -> None:
    """On by default, off with ZCONTACTS_GROUP_COMMIT=false; the app's database follows the setting."""
    assert Settings.from_env({}).group_commit is True
    assert Settings.from_env({"ZCONTACTS_GROUP_COMMIT": "false"}).group_commit is False
    for wanted in (True, False):
        app = create_app(Settings(database_url=database_url, auto_migrate=False, group_commit=wanted))
        database: Database = app.state["database"]
        assert database._group_commit is wanted
        database.dispose()
