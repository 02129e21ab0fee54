"""Shutdown with a scan under way: a scan thread's read (contacts.read_page) can outlive its request, since a
server's graceful shutdown cancels the request, not the thread under it. dispose stops the scan and waits for
it, instead of closing the connection under a running statement."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from zcontacts.errors import ServiceBusy
from zcontacts.storage.database import Database, Reader

pytestmark = pytest.mark.backends("sqlite")  # scan threads and their readers are SQLite's

# Counts to 10^12: runs until it is stopped.
ENDLESS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000000) "
    "SELECT count(*) FROM n"
)


def test_dispose_stops_a_running_scan_and_waits_for_it(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'scan.db'}")
    started = threading.Event()
    outcome: list[BaseException | None] = []

    def scan() -> None:
        try:
            with database.scan_reader() as reader:
                started.set()
                reader.fetch(ENDLESS, [])
            outcome.append(None)
        except BaseException as exc:  # the test reports what the thread saw
            outcome.append(exc)

    thread = threading.Thread(target=scan, daemon=True)
    thread.start()
    assert started.wait(5)
    database.dispose()
    # dispose returned only once the scan had let go of its reader.
    assert not thread.is_alive()
    thread.join()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ServiceBusy)


def test_a_database_scans_again_after_dispose(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'scan.db'}")
    with database.scan_reader() as reader:
        assert reader.fetch("SELECT 1", []) == [(1,)]
    database.dispose()
    # On a new thread, as a scan thread would be: it takes a new reader.
    seen: list[object] = []

    def scan() -> None:
        with database.scan_reader() as reader:
            seen.append(reader.fetch("SELECT 2", []))

    thread = threading.Thread(target=scan)
    thread.start()
    thread.join(5)
    assert seen == [[(2,)]]
    database.dispose()


def test_a_scan_whose_reader_a_dispose_closed_meanwhile_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'scan.db'}")
    take_reader = database.reader

    def reader_then_dispose(*, lean: bool = False) -> Reader:
        reader = take_reader(lean=lean)
        database.dispose()  # from another thread, between the scan taking its reader and using it
        return reader

    monkeypatch.setattr(database, "reader", reader_then_dispose)
    with pytest.raises(ServiceBusy), database.scan_reader():
        pytest.fail("a reader that dispose closed was handed out")
    monkeypatch.undo()
    with database.scan_reader() as reader:  # the next scan takes a new reader
        assert reader.fetch("SELECT 3", []) == [(3,)]
    database.dispose()
