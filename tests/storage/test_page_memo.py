"""The hot reader's list-page memo (storage/database.py, Reader.remembered): a page asked for again while no
connection has written is handed out without its statement, and any commit, from this process or another,
empties it, so every page is still exactly what the statement would read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.domain.listing import SORT_COLUMNS, ListQuery, parse_list_query
from zcontacts.storage.contacts import ContactsRepo, sqlite_page
from zcontacts.storage.database import Database, MemoStats, Reader, memo_size

pytestmark = pytest.mark.backends("sqlite")  # the hot reader is SQLite's


@pytest.fixture
def people(client: Any, tenant: Tenant) -> list[dict[str, Any]]:
    return [
        make_contact(client, tenant, contact_name=f"Person {i:02d}", company_name=f"Firm {i % 3}")
        for i in range(12)
    ]


@contextmanager
def _statements(reader: Reader) -> Iterator[list[str]]:
    """The SQL the reader's connection runs from now on."""
    seen: list[str] = []
    reader.connection.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        reader.connection.set_trace_callback(None)


@pytest.fixture
def traced(database: Database) -> Iterator[list[str]]:
    with _statements(database.reader()) as seen:
        yield seen


def _truth(on: Database | Reader, organization_id: str, query: ListQuery) -> list[bytes]:
    """The page's plain statement, run on the reader without the memo."""
    sql, parameters = sqlite_page(organization_id, query)
    return [row[0] for row in on.fetch(sql, parameters)]


@contextmanager
def _reader(database_url: str, memo_bytes: int) -> Iterator[Reader]:
    """A reader of its own on the test's file, with this memo budget."""
    with closing(sqlite3.connect(_file(database_url), isolation_level=None)) as connection:
        yield Reader(connection, memo_bytes=memo_bytes)


def _file(database_url: str) -> str:
    return database_url.removeprefix("sqlite:///")


def test_a_page_asked_for_again_runs_no_statement(
    people: list[dict[str, Any]], tenant: Tenant, database: Database, traced: list[str]
) -> None:
    repo = ContactsRepo(reader=database.reader())
    query = parse_list_query([("per_page", "5"), ("sort_order", "D")])
    first = repo.list_summaries(tenant.organization_id, query)
    assert any(s.startswith("SELECT contacts.summary_doc") for s in traced)
    traced.clear()
    first.append(b"changed by the caller")  # the caller's copy, not the memo's
    again = repo.list_summaries(tenant.organization_id, query)
    assert traced == ["PRAGMA data_version"]
    assert again == first[:-1] == _truth(database, tenant.organization_id, query)
    assert len(again) == 6  # five rows and the look-ahead row
    assert database.memo_stats() == MemoStats(pages=1, size=database.memo_stats().size, hits=1, misses=1)
    # Another query is another page: read once, then kept beside the first.
    other = parse_list_query([("company_name", "Firm 1")])
    assert repo.list_summaries(tenant.organization_id, other) == _truth(
        database, tenant.organization_id, other
    )
    assert repo.list_summaries("1", query) == []  # nor does another organization share a page
    assert database.memo_stats().pages == 3


def test_every_commit_empties_it(
    client: Any, people: list[dict[str, Any]], tenant: Tenant, database: Database, database_url: str
) -> None:
    """The app's writes, a second app on the same file (another worker) and a plain connection (the CLI,
    another program) are all other connections to the reader: each commit of theirs is seen at once."""
    repo = ContactsRepo(reader=database.reader())
    queries = [
        parse_list_query(p) for p in ([], [("per_page", "3"), ("page", "2")], [("search_text", "person 1")])
    ]

    def check() -> list[list[bytes]]:
        pages = [repo.list_summaries(tenant.organization_id, q) for q in queries]
        assert pages == [_truth(database, tenant.organization_id, q) for q in queries]
        return pages

    before = check()
    client.put(
        f"{CONTACTS}/{people[0]['contact_id']}", json={"contact_name": "Aaron"}, headers=tenant.headers
    )
    renamed = check()
    assert renamed != before
    client.delete(f"{CONTACTS}/{people[1]['contact_id']}", headers=tenant.headers)
    deleted = check()
    assert deleted != renamed
    settings = Settings(database_url=database_url, auto_migrate=False, rate_limit_per_minute=0)
    with TestClient(app=create_app(settings)) as second:
        response = second.post(CONTACTS, json={"contact_name": "Person 10a"}, headers=tenant.headers)
        assert response.status_code == 201
    created = check()
    assert created != deleted
    with closing(sqlite3.connect(_file(database_url))) as plain, plain:
        plain.execute(
            "UPDATE contacts SET summary_doc = CAST('{\"edited\":1}' AS BLOB) WHERE contact_name = 'Aaron'"
        )
    edited = check()
    assert b'{"edited":1}' in edited[0]
    assert edited != created


def test_the_served_list_follows_every_write(
    client: Any, people: list[dict[str, Any]], tenant: Tenant
) -> None:
    """Through the API: the same list call between writes of the same app answers what was written."""

    def names() -> list[str]:
        body = client.get(CONTACTS, params={"per_page": 4}, headers=tenant.headers).json()
        return [c["contact_name"] for c in body["customers"]]

    assert names() == names() == ["Person 00", "Person 01", "Person 02", "Person 03"]
    made = make_contact(client, tenant, contact_name="Abigail")
    assert names() == ["Abigail", "Person 00", "Person 01", "Person 02"]
    client.put(f"{CONTACTS}/{made['contact_id']}", json={"contact_name": "Zed"}, headers=tenant.headers)
    assert names() == ["Person 00", "Person 01", "Person 02", "Person 03"]
    client.delete(f"{CONTACTS}/{people[0]['contact_id']}", headers=tenant.headers)
    assert names() == names() == ["Person 01", "Person 02", "Person 03", "Person 04"]
    metrics = client.get("/metrics").text
    assert 'zcontacts_list_memo_hits{backend="sqlite"} 2' in metrics
    assert 'zcontacts_list_memo_misses{backend="sqlite"} 4' in metrics


def test_a_page_read_while_another_connection_commits_is_not_kept(
    people: list[dict[str, Any]], tenant: Tenant, database_url: str
) -> None:
    """A page is one statement, and the data_version read on both sides of it must agree before it is kept: a
    commit landing right after the statement (so the rows are already old) must not leave them to be served."""
    query = parse_list_query([("per_page", "3")])
    with _reader(database_url, 1 << 20) as reader, closing(sqlite3.connect(_file(database_url))) as plain:
        repo = ContactsRepo(reader=reader)
        fetch = reader.fetch

        def fetch_then_rename(sql: str, parameters: Any) -> list[Any]:
            rows = fetch(sql, parameters)
            with plain:
                plain.execute("UPDATE contacts SET summary_doc = CAST('{\"late\":1}' AS BLOB)")
            return rows

        reader.fetch = fetch_then_rename  # type: ignore[method-assign]
        stale = repo.list_summaries(tenant.organization_id, query)
        reader.fetch = fetch  # type: ignore[method-assign]
        assert b"late" not in stale[0]
        assert reader.memo_stats.pages == 0
        fresh = repo.list_summaries(tenant.organization_id, query)
        assert fresh == [b'{"late":1}'] * 4
        assert repo.list_summaries(tenant.organization_id, query) == fresh
        assert reader.memo_stats.pages == 1


def test_it_keeps_to_its_budget(people: list[dict[str, Any]], tenant: Tenant, database_url: str) -> None:
    """Oldest pages go first once the budget is full; every page read is still the statement's."""
    queries = [
        parse_list_query([("sort_column", c), ("sort_order", o), ("per_page", str(n))])
        for c in SORT_COLUMNS for o in "AD" for n in range(1, 13)
    ]  # fmt: skip
    with _reader(database_url, 40_000) as reader:  # a dozen customers' pages would never fill a MiB
        repo = ContactsRepo(reader=reader)
        for query in [*queries, *queries]:
            assert repo.list_summaries(tenant.organization_id, query) == _truth(
                reader, tenant.organization_id, query
            )
            assert reader.memo_stats.size <= 40_000
        stats = reader.memo_stats
        assert 0 < stats.pages < len(queries)
        assert stats.misses > len(queries)


def test_a_page_too_large_for_its_share_is_read_every_time(
    people: list[dict[str, Any]], tenant: Tenant, database_url: str
) -> None:
    small, large = parse_list_query([("per_page", "1")]), parse_list_query([("per_page", "10")])
    with _reader(database_url, 0) as plain:
        share = memo_size(_truth(plain, tenant.organization_id, small))  # what the small page takes
    with _reader(database_url, 8 * share) as reader:  # a page may take an eighth of the budget
        repo = ContactsRepo(reader=reader)
        for _ in range(3):
            repo.list_summaries(tenant.organization_id, small)
            repo.list_summaries(tenant.organization_id, large)
        assert reader.memo_stats == MemoStats(pages=1, size=share, hits=2, misses=4)


def test_turned_off_every_page_runs_its_statement(
    people: list[dict[str, Any]], tenant: Tenant, database_url: str
) -> None:
    assert Settings.from_env({}).sqlite_page_memo_mb == 16
    assert Settings.from_env({"ZCONTACTS_SQLITE_PAGE_MEMO_MB": "0"}).sqlite_page_memo_mb == 0
    app = create_app(Settings(database_url=database_url, auto_migrate=False, sqlite_page_memo_mb=0))
    database: Database = app.state["database"]
    try:
        repo = ContactsRepo(reader=database.reader())
        query = parse_list_query([])
        with _statements(database.reader()) as seen:
            for _ in range(3):
                assert repo.list_summaries(tenant.organization_id, query) == _truth(
                    database, tenant.organization_id, query
                )
            assert sum(s.startswith("SELECT contacts.summary_doc") for s in seen) == 6  # its and the truth's
            assert "PRAGMA data_version" not in seen
        assert database.memo_stats() == MemoStats()
    finally:
        database.dispose()
