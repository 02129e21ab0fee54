"""Background checkpoints sync the database file they copied pages into (storage/database.py,
sync_database_file): otherwise, under steady writes, those pages wait in the OS cache for the one checkpoint
that finishes the WAL, which SQLite runs inside a commit on the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from contextlib import closing
from typing import Any

import pytest
from sqlalchemy import Connection, text

from zcontacts.storage import database as database_module
from zcontacts.storage.database import CHECKPOINT_EVERY, Database, sync_database_file

pytestmark = pytest.mark.backends("sqlite")


def _insert(n: int) -> Any:
    def work(connection: Connection) -> None:
        connection.execute(text("INSERT INTO probe (n) VALUES (:n)"), {"n": n})

    return work


def _database(database_url: str) -> Database:
    database = Database.from_url(database_url)
    database.run(
        lambda c: c.execute(text("CREATE TABLE IF NOT EXISTS probe (n INTEGER PRIMARY KEY)")), write=True
    )
    return database


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The inodes of the files fdatasync was called on."""
    calls: list[int] = []
    real = os.fdatasync

    def record(descriptor: int) -> None:
        calls.append(os.fstat(descriptor).st_ino)
        real(descriptor)

    monkeypatch.setattr(os, "fdatasync", record)
    return calls


def test_writes_that_reach_a_checkpoint_sync_the_database_file(database_url: str, synced: list[int]) -> None:
    database = _database(database_url)
    assert database._file is not None
    inode = os.stat(database._file).st_ino

    async def main() -> None:
        # One write per loop turn, as served requests arrive: every CHECKPOINT_EVERY-th schedules a checkpoint.
        for n in range(CHECKPOINT_EVERY * 2):
            await database.write(_insert(n))
        while database._checkpointing:
            await asyncio.sleep(0.01)

    try:
        asyncio.run(main())
        assert inode in synced
        rows = database.run(lambda c: c.execute(text("SELECT count(*) FROM probe")).scalar_one(), write=False)
        assert rows == CHECKPOINT_EVERY * 2
    finally:
        database.dispose()


def test_a_checkpoint_of_an_empty_wal_does_not_sync(database_url: str, synced: list[int]) -> None:
    database = _database(database_url)
    try:
        assert database._file is not None
        with closing(sqlite3.connect(database._file)) as connection:
            assert connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone() == (0, 0, 0)
        database._checkpoint()  # nothing to copy, nothing to sync
        assert synced == []
        database.run(_insert(1), write=True)
        database._checkpoint()  # one write's pages copied
        assert len(synced) == 1
    finally:
        database.dispose()


def test_the_descriptor_is_opened_once_and_outlives_the_database(database_url: str) -> None:
    database = _database(database_url)
    assert database._file is not None
    path = database._file
    sync_database_file(path)
    descriptor = database_module._SYNCED[path]
    sync_database_file(path)
    assert database_module._SYNCED[path] == descriptor
    database.dispose()
    # Closing it would drop every POSIX lock this process holds on the file, SQLite's included.
    assert os.fstat(descriptor).st_ino == os.stat(path).st_ino


def test_a_file_that_cannot_be_synced_is_left_to_sqlite(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    database = _database(database_url)
    assert database._file is not None
    calls: list[int] = []

    def refuse(descriptor: int) -> None:
        calls.append(descriptor)
        raise OSError(9, "Bad file descriptor")

    monkeypatch.setattr(os, "fdatasync", refuse)
    try:
        with caplog.at_level(logging.WARNING, logger="zcontacts"):
            sync_database_file(database._file)
            sync_database_file(database._file)
        assert len(calls) == 1  # tried once, then left to SQLite
        assert "could not sync" in caplog.text
        database.run(_insert(1), write=True)  # the database works on
    finally:
        database.dispose()
