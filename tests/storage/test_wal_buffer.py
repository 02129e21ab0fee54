"""The WAL-buffering VFS (storage/_walbuffer.c): a commit's frames reach the file in fewer writes, and every
reader, in this process or another, after a crash or not, sees exactly what SQLite committed."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zcontacts.storage
from zcontacts.config import Settings
from zcontacts.storage import wal_buffer

walbuffer = pytest.importorskip(
    "zcontacts.storage._walbuffer",
    reason="the _walbuffer extension is not built (no C compiler or SQLite headers)",
)


@pytest.fixture(autouse=True)
def _buffered() -> Iterator[None]:
    assert wal_buffer.configure(True)
    yield
    wal_buffer.configure(True)  # the process default every other test runs with


def _connect(path: Path, *, cache_pages: int = 2000) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f"PRAGMA cache_size={cache_pages}")
    connection.execute("PRAGMA wal_autocheckpoint=0")  # keep every frame in the WAL, where the shim wrote it
    return connection


def _rows(path: Path) -> dict[int, bytes]:
    """What a fresh connection, opened without the shim, reads."""
    wal_buffer.configure(False)
    try:
        with closing(sqlite3.connect(path)) as reader:
            assert reader.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            return dict(reader.execute("SELECT k, v FROM t"))
    finally:
        wal_buffer.configure(True)


def _fill(connection: sqlite3.Connection, commits: int) -> dict[int, bytes]:
    connection.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
    connection.execute("CREATE INDEX IF NOT EXISTS t_v ON t (v)")
    written = {}
    for i in range(commits):
        value = bytes([i % 251]) * (3000 + i)
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO t VALUES (?, ?)", (i, value))
        connection.execute("COMMIT")
        written[i] = value
    return written


def test_a_commit_reaches_the_wal_in_fewer_writes(tmp_path: Path) -> None:
    connection = _connect(tmp_path / "a.db")
    asked, made = walbuffer.counters()
    written = _fill(connection, 200)
    asked, made = walbuffer.counters()[0] - asked, walbuffer.counters()[1] - made
    # Each commit writes a few frames (table, index, overflow pages), two writes apiece; the shim one per commit.
    assert asked >= 200 * 4
    assert made <= 200 + 5
    assert _rows(tmp_path / "a.db") == written
    connection.close()


def test_with_the_shim_off_sqlite_writes_as_it_always_does(tmp_path: Path) -> None:
    wal_buffer.configure(False)
    connection = _connect(tmp_path / "b.db")
    before = walbuffer.counters()
    written = _fill(connection, 20)
    assert walbuffer.counters() == before
    assert _rows(tmp_path / "b.db") == written
    connection.close()


def test_a_reader_sees_each_commit_while_the_writer_stays_open(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    writer = _connect(path)
    writer.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    reader = sqlite3.connect(path, isolation_level=None)
    for i in range(100):
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO t VALUES (?, randomblob(5000))", (i,))
        writer.execute("COMMIT")
        assert reader.execute("SELECT count(*), sum(length(v)) FROM t").fetchone() == (i + 1, 5000 * (i + 1))
    assert reader.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    writer.close()
    reader.close()


def test_every_commit_survives_the_writer_process_dying(tmp_path: Path) -> None:
    """os._exit runs no clean-up: whatever the shim still held would be lost with the process."""
    path = tmp_path / "d.db"
    script = textwrap.dedent(
        f"""
        import os, sqlite3
        from zcontacts.storage import wal_buffer
        assert wal_buffer.configure(True)
        c = sqlite3.connect({str(path)!r}, isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=NORMAL")
        c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        for i in range(300):
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO t VALUES (?, zeroblob(?))", (i, 100 + i * 37))
            c.execute("COMMIT")
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO t VALUES (-1, zeroblob(10))")  # never committed
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    rows = _rows(path)
    assert sorted(rows) == list(range(300))
    assert all(len(rows[i]) == 100 + i * 37 for i in rows)


def test_two_writer_processes_and_a_checkpointing_reader(tmp_path: Path) -> None:
    """Writers in two processes take turns at the WAL; this process reads and checkpoints meanwhile. Every
    count it reads is a whole number of commits, and at the end every row is there."""
    path = tmp_path / "w.db"
    with closing(_connect(path)) as setup:
        setup.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    script = textwrap.dedent(
        f"""
        import sqlite3, sys
        from zcontacts.storage import wal_buffer
        assert wal_buffer.configure(True)
        c = sqlite3.connect({str(path)!r}, isolation_level=None, timeout=30)
        c.execute("PRAGMA synchronous=NORMAL")
        base = int(sys.argv[1])
        for i in range(400):
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO t VALUES (?, zeroblob(2000))", (base + 2 * i,))
            c.execute("INSERT INTO t VALUES (?, zeroblob(2000))", (base + 2 * i + 1,))
            c.execute("COMMIT")
        """
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(base)]) for base in (0, 100_000)]
    reader = sqlite3.connect(path, isolation_level=None, timeout=30)
    while any(w.poll() is None for w in writers):
        (count,) = reader.execute("SELECT count(*) FROM t").fetchone()
        assert count % 2 == 0  # never half a commit
        reader.execute("PRAGMA wal_checkpoint(PASSIVE)")
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    reader.close()
    rows = _rows(path)
    assert sorted(rows) == [*range(800), *range(100_000, 100_800)]


def test_transactions_larger_than_the_page_cache_and_the_buffer(tmp_path: Path) -> None:
    """A 5-page cache spills pages to the WAL mid-transaction, and SQLite then rewrites frames it already wrote
    (and their checksums at the commit); 3 MB of rows is more than the shim's 1 MiB buffer."""
    path = tmp_path / "e.db"
    connection = _connect(path, cache_pages=5)
    connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    expected: dict[int, bytes] = {}
    for round_ in range(3):
        connection.execute("BEGIN IMMEDIATE")
        for i in range(600):
            value = bytes([(i + round_) % 256]) * (1000 + i % 900)
            connection.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (i, value))
            expected[i] = value
        for i in range(0, 600, 7):
            expected[i] += b"\x00"
            connection.execute("UPDATE t SET v = ? WHERE k = ?", (expected[i], i))
        connection.execute("COMMIT")
        assert _rows(path) == expected
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("DELETE FROM t WHERE k % 2 = 0")
    connection.execute("ROLLBACK")
    assert _rows(path) == expected
    connection.close()
    assert _rows(path) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(0, 40), st.integers(0, 9000)), min_size=1, max_size=30),
            st.sampled_from(["commit", "rollback", "savepoint"]),
        ),
        min_size=1,
        max_size=12,
    ),
    cache_pages=st.sampled_from([3, 50, 2000]),
)
def test_any_mix_of_writes_reads_back_as_committed(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[list[tuple[int, int]], str]], cache_pages: int
) -> None:
    path = tmp_path_factory.mktemp("mix") / "f.db"
    connection = _connect(path, cache_pages=cache_pages)
    connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    model: dict[int, bytes] = {}
    for writes, end in steps:
        pending = dict(model)
        connection.execute("BEGIN IMMEDIATE")
        for number, (key, size) in enumerate(writes):
            if end == "savepoint" and number == len(writes) // 2:
                connection.execute("SAVEPOINT half")
                kept = dict(pending)
            value = bytes([size % 256]) * size
            if size % 5 == 0:
                connection.execute("DELETE FROM t WHERE k = ?", (key,))
                pending.pop(key, None)
            else:
                connection.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (key, value))
                pending[key] = value
        if end == "savepoint":
            connection.execute("ROLLBACK TO half")
            pending = kept
        connection.execute("ROLLBACK" if end == "rollback" else "COMMIT")
        if end != "rollback":
            model = pending
        assert _rows(path) == model
    connection.close()


def test_the_server_setting_turns_it_off_for_the_process(tmp_path: Path) -> None:
    from zcontacts.app import create_app

    assert Settings.from_env({}).sqlite_wal_buffer is True
    off = Settings.from_env(
        {"ZCONTACTS_SQLITE_WAL_BUFFER": "false"}, database_url=f"sqlite:///{tmp_path / 'g.db'}"
    )
    assert off.sqlite_wal_buffer is False
    create_app(off)
    before = walbuffer.counters()
    with closing(_connect(tmp_path / "h.db")) as connection:
        _fill(connection, 5)
    assert walbuffer.counters() == before
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'g.db'}"))
    with closing(_connect(tmp_path / "i.db")) as connection:
        _fill(connection, 5)
    assert walbuffer.counters() != before


def test_without_the_extension_zcontacts_runs_unbuffered(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(wal_buffer, "_usable", None)
    monkeypatch.setitem(sys.modules, "zcontacts.storage._walbuffer", None)  # import fails
    monkeypatch.delattr(zcontacts.storage, "_walbuffer")
    with caplog.at_level(logging.INFO, logger="zcontacts.storage"):
        assert wal_buffer.configure(True) is False
    assert "not built" in caplog.text


def test_the_shim_times_each_threads_page_reads(tmp_path: Path) -> None:
    # What SQLite's cache misses cost a thread: a read under a deadline is not charged for them (Reader.within).
    path = tmp_path / "timed.db"
    with closing(_connect(path)) as connection:
        _fill(connection, 200)
    clock = wal_buffer.read_clock()
    assert clock is walbuffer.read_seconds

    def scan() -> float:
        before = clock()
        with closing(sqlite3.connect(path)) as reader:
            reader.execute("PRAGMA cache_size=0")  # every page read through the VFS
            assert reader.execute("SELECT count(*), sum(length(v)) FROM t").fetchone()[0] == 200
        return clock() - before

    assert scan() > 0
    # Another thread's reads are its own: this one's clock stands still meanwhile.
    before, theirs = clock(), []
    thread = threading.Thread(target=lambda: theirs.append(scan()))
    thread.start()
    thread.join()
    assert theirs[0] > 0
    assert clock() == before
    # Connections opened without the shim are not timed, and there is no clock to read.
    wal_buffer.configure(False)
    assert wal_buffer.read_clock() is None
