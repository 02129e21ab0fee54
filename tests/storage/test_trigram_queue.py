"""The trigram queue (migration 0007, storage/search_index.py): writes queue their keys for SQLite's trigram
index instead of indexing them in their own transaction; the server moves the queue into the index in batches,
when writes go quiet and when it stops; searches read the index plus the queue, so every answer is exact while
entries wait; and the index, once the queue is applied, is exactly what indexing at once would have made."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage import migrate, search_index
from zcontacts.storage.database import Database
from zcontacts.storage.search_index import APPLY_EVERY, APPLY_MERGE_PAGES, IndexCompactor

pytestmark = pytest.mark.backends("sqlite")


@contextlib.contextmanager
def _connection(database_url: str) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def _queued(database_url: str) -> int:
    with _connection(database_url) as connection:
        return int(connection.execute("SELECT count(*) FROM contacts_fts_pending").fetchone()[0])


def _assert_index_is_exact(database_url: str) -> None:
    """FTS5's integrity check compares the index with the contacts it was built from: it fails on a missing
    or a stale entry alike."""
    with _connection(database_url) as connection:
        connection.execute("INSERT INTO contacts_fts(contacts_fts, rank) VALUES ('integrity-check', 1)")


def _names(client: Any, tenant: Tenant, **params: str) -> list[str]:
    response = client.get(CONTACTS, params=params, headers=tenant.headers)
    assert response.status_code == 200
    return [c["contact_name"] for c in response.json()["customers"]]


def test_a_search_is_exact_while_entries_wait(quiet_client: Any, tenant: Tenant, database_url: str) -> None:
    client = quiet_client
    first = make_contact(client, tenant, contact_name="Quokka Traders", company_name="Marsupial Ltd")
    make_contact(client, tenant, contact_name="Wombat Supplies", email="digger@burrow.example")
    assert _queued(database_url) > 0  # nothing of these is in the index yet
    assert _names(client, tenant, search_text="okka") == ["Quokka Traders"]
    assert _names(client, tenant, email_contains="burrow") == ["Wombat Supplies"]
    assert _names(client, tenant, company_name_contains="supial") == ["Quokka Traders"]

    url = f"{CONTACTS}/{first['contact_id']}"
    assert (
        client.put(url, json={"contact_name": "Platypus Imports"}, headers=tenant.headers).status_code == 200
    )
    assert _names(client, tenant, search_text="okka") == []
    assert _names(client, tenant, search_text="atypu") == ["Platypus Imports"]
    assert client.delete(url, headers=tenant.headers).status_code == 200
    assert _names(client, tenant, search_text="atypu") == []
    assert _names(client, tenant, search_text="mbat") == ["Wombat Supplies"]
    assert _queued(database_url) > 0


def test_the_server_applies_the_queue_every_few_writes(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    for n in range(3 * APPLY_EVERY + 5):
        make_contact(quiet_client, tenant, contact_name=f"Batch {n:03d}", email=f"b{n}@batch.example")
        # Each write queues one entry; one batch in APPLY_EVERY writes takes the whole queue.
        assert _queued(database_url) <= APPLY_EVERY
    assert _names(quiet_client, tenant, search_text="ch 1", per_page="200")[:2] == ["Batch 100", "Batch 101"]
    with _connection(database_url) as connection:
        assert search_index.apply_step(connection) == 5  # the writes since the last batch
    _assert_index_is_exact(database_url)


def test_fts5_merges_in_bounded_steps_after_each_batch(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    # Migration 0009: FTS5's own merges (unbounded, inside whichever batch triggers them) are off; each batch
    # ends with at most APPLY_MERGE_PAGES pages of merging instead.
    with _connection(database_url) as connection:
        assert connection.execute("SELECT v FROM contacts_fts_config WHERE k = 'automerge'").fetchone() == (
            0,
        )
    for n in range(3):
        make_contact(quiet_client, tenant, contact_name=f"Stepwise {n}")
    statements: list[str] = []
    with _connection(database_url) as connection:
        connection.set_trace_callback(statements.append)
        assert search_index.apply_step(connection) == 3
    merges = [sql for sql in statements if "'merge'" in sql]
    assert len(merges) == 1
    assert merges[0].rstrip(")").endswith(f", {APPLY_MERGE_PAGES}")
    _assert_index_is_exact(database_url)
    assert _names(quiet_client, tenant, search_text="epwis") == [f"Stepwise {n}" for n in range(3)]
    database = Database.from_url(database_url)
    try:
        migrate.downgrade(database.engine, "0008")
        with _connection(database_url) as connection:
            assert connection.execute(
                "SELECT v FROM contacts_fts_config WHERE k = 'automerge'"
            ).fetchone() == (4,)
        migrate.upgrade(database.engine)
    finally:
        database.dispose()


def test_a_stopping_server_leaves_the_index_complete(database_url: str, tenant: Tenant) -> None:
    settings = Settings(database_url=database_url, auto_migrate=False, compact_search_index=False)
    with TestClient(app=create_app(settings)) as client:
        make_contact(client, tenant, contact_name="Last Words")
        assert _queued(database_url) == 1
    assert _queued(database_url) == 0  # shutdown disposed of the database, applying the queue first
    _assert_index_is_exact(database_url)


def test_writes_outside_group_commit_leave_no_queue(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    """The CLI, imports and tests write through Database.run: each such transaction applies the whole queue."""
    make_contact(quiet_client, tenant, contact_name="Through the API")
    assert _queued(database_url) == 1
    database = Database.from_url(database_url)
    try:

        def rename(connection: Any) -> None:
            connection.exec_driver_sql("UPDATE contacts SET contact_name_key = contact_name_key || 'x'")

        database.run(rename, write=True)
        assert _queued(database_url) == 0
        _assert_index_is_exact(database_url)
    finally:
        database.dispose()


def test_the_compactor_applies_the_queue_once_writes_are_quiet(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    for n in range(5):
        make_contact(quiet_client, tenant, contact_name=f"Quiet {n}")
    assert _queued(database_url) == 5
    compactor = IndexCompactor(database_url.removeprefix("sqlite:///"), quiet_seconds=0.05, poll_seconds=0.01)

    async def until_quiet() -> None:
        compactor.start()
        await asyncio.sleep(0.05)
        for _ in range(500):
            if not compactor.busy:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the compactor never went quiet")

    try:
        asyncio.run(until_quiet())
    finally:
        compactor.close()
    assert _queued(database_url) == 0
    _assert_index_is_exact(database_url)


def test_a_failing_apply_keeps_the_writes_and_the_queue(
    quiet_client: Any,
    tenant: Tenant,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from zcontacts.storage import database as database_module

    def broken(connection: sqlite3.Connection) -> int:
        # Half done (the entries dropped, none applied), then a failure.
        connection.execute("DELETE FROM contacts_fts_pending")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(database_module, "apply_pending", broken)
    with caplog.at_level(logging.WARNING, logger="zcontacts"):
        for n in range(APPLY_EVERY + 2):
            make_contact(quiet_client, tenant, contact_name=f"Kept {n}")
    assert "could not apply the trigram queue" in caplog.text
    assert _queued(database_url) == APPLY_EVERY + 2  # the half-done apply was undone; every entry waits
    assert len(_names(quiet_client, tenant, search_text="kept", per_page="200")) == APPLY_EVERY + 2
    monkeypatch.undo()
    with _connection(database_url) as connection:
        search_index.apply_step(connection)
    _assert_index_is_exact(database_url)


def test_downgrading_applies_the_queue_for_the_old_triggers(
    quiet_client: Any, tenant: Tenant, database_url: str
) -> None:
    make_contact(quiet_client, tenant, contact_name="Before Downgrade")
    assert _queued(database_url) == 1
    database = Database.from_url(database_url)
    try:
        migrate.downgrade(database.engine, "0006")
        _assert_index_is_exact(database_url)
        with _connection(database_url) as connection:  # 0006's triggers index at once again
            connection.execute("UPDATE contacts SET company_name_key = 'renamed co'")
            found = connection.execute(
                'SELECT count(*) FROM contacts_fts WHERE contacts_fts MATCH \'"ena" AND "d c"\''
            ).fetchone()
            assert found == (1,)
        _assert_index_is_exact(database_url)
        migrate.upgrade(database.engine)
        assert _queued(database_url) == 0
    finally:
        database.dispose()
