"""PostgreSQL's filtered list pages (storage/postgres_pages.py): the walk under a deadline, else the same page
read matches first. Both statements must be the listing, and the deadline must end with the read."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, literal_column, select, text
from sqlalchemy.exc import DBAPIError

from tests.helpers import Tenant, churned, make_contact, make_tenant, varied_bodies
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.domain.listing import parse_list_query
from zcontacts.storage import contacts as contacts_module
from zcontacts.storage import postgres_pages, value_plan
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database

pytestmark = [pytest.mark.postgres, pytest.mark.backends("postgresql")]

FILTERS = [
    [("first_name_startswith", "iv")],
    [("first_name", "Ivan")],
    [("last_name_contains", "kim")],
    [("first_name_contains", "va")],
    [("email_startswith", "a")],
    [("phone_contains", "0102")],
    [("company_name_contains", "init")],
    [("contact_name_startswith", "zed")],
    [("search_text", "corp")],
    [("search_text", "an")],
]
ORDERS = ["contact_name", "company_name", "email", "created_time", "last_modified_time"]


@pytest.fixture
def customers(client: Any, tenant: Tenant, database: Database) -> list[str]:
    """60 customers with few distinct names, companies and phones, ties in both times, some inactive, some
    deleted and renamed."""
    bodies = varied_bodies(60, 11)
    renames = [{"contact_name": f"Zed Renamed {n}", "first_name": "Ivan"} for n in range(4)]
    marking = (  # by the order they were made (1, 2, 3, …): contact ids are spaced by what each create drew
        "UPDATE contacts SET created_at_ms = 1000 + mod(r.n, 5), updated_at_ms = 5000 - mod(r.n, 7), "
        "status = CASE WHEN mod(r.n, 3) = 0 THEN 'inactive' ELSE 'active' END "
        "FROM (SELECT contact_id, row_number() OVER (ORDER BY contact_id) AS n FROM contacts) AS r "
        "WHERE r.contact_id = contacts.contact_id"
    )
    return churned(client, tenant, database, bodies, renames, marking)


def _rows(connection: Connection, statement: Any) -> list[bytes]:
    return [bytes(row[0]) for row in connection.execute(statement)]


def test_matches_first_pages_are_the_listings(
    customers: list[str], tenant: Tenant, database: Database
) -> None:
    statuses: list[list[tuple[str, str]]] = [[], [("filter_by", "Status.Inactive")]]
    listings = [
        [*by, *status, ("sort_column", sort), ("sort_order", order), ("page", page), ("per_page", "4")]
        for by, sort, order, status, page in itertools.product(FILTERS, ORDERS, "AD", statuses, "125")
    ]

    def check(connection: Connection) -> int:
        repo, seen = ContactsRepo(connection), 0
        for params in listings:
            query = parse_list_query(params)
            walked = _rows(connection, repo.list_statement(tenant.organization_id, query))
            first = _rows(connection, repo.matches_first_statement(tenant.organization_id, query))
            assert first == walked, params
            assert _rows(connection, repo.walk_statement(tenant.organization_id, query)) == walked, params
            assert repo.list_summaries(tenant.organization_id, query) == walked, params
            seen += bool(walked)
        return seen

    assert database.run(check, write=False) > 300  # most pages hold rows


@pytest.mark.parametrize("sort", ORDERS)
@pytest.mark.parametrize("by", [*FILTERS, [("first_name_contains", "iv")]], ids=str)
def test_a_walk_reads_the_index_alone(
    customers: list[str], tenant: Tenant, database: Database, sort: str, by: list[tuple[str, str]]
) -> None:
    # Its index carries every key a listing tests: the walk tests entries, not the rows behind them (an index scan
    # reads the row of every entry it passes: 1.0-2.1 s for clustered matches over 1,000,000 customers).
    query = parse_list_query([*by, ("sort_column", sort), ("sort_order", "D"), ("page", "2")])
    # A table autovacuum has seen: its rows all visible, so an index-only scan need not visit them.
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE contacts")

    def plan(connection: Connection) -> str:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            connection.exec_driver_sql(f"SET LOCAL {setting} = off")  # as over a million rows: walk an index
        statement = ContactsRepo(connection).walk_statement(tenant.organization_id, query)
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        lines = connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars()
        return "\n".join(lines)

    walked = database.run(plan, write=False)
    assert "Index Only Scan" in walked, walked


# Keys that hold a term at their start, after it, both, or only once a LIKE wildcard is taken literally; one whose
# term is followed by the greatest code point (the run's range must still hold it).
SIDED = ["Ivan Petrov", "Ivanka Ray", "Bo Ivanov", "Sivan Ko", "Ivanivan Li", "Ivo Lind", "Zed Ivan", "50% Ivan",
         "Iv_an Cole", "Ivxan Moe", "Ann 50% Off", "Van Ivan", "Ivan\U0010ffff Top"]  # fmt: skip
SIDED_TERMS = [
    "ivan",
    "van",
    "iv_an",
    "50%",
    "an ",
    "zzz",
    "5-7",
    "qux",
]  # the last two: only in phones, companies


@pytest.fixture
def sided(client: Any, tenant: Tenant, database: Database) -> None:
    for n, name in enumerate(SIDED * 2):
        word = name.split()[-1]
        make_contact(
            client,
            tenant,
            contact_name=f"{name} {n:02d}",
            company_name=f"{word} {name.split()[0]}" if n % 4 else ["Quxa Corp", "Aqux Corp"][n % 8 // 4],
            email=f"{name.split()[0].replace('%', 'p')}.{word}{n % 3}@ivan.example",
            phone=f"+1-555-{n % 9}-0100",
        )
    database.run(
        lambda c: c.exec_driver_sql("UPDATE contacts SET status = 'inactive' WHERE mod(contact_id, 3) = 0"),
        write=True,
    )


SORT_KEYS = {
    "contact_name": "contact_name_key",
    "company_name": "company_name_key",
    "email": "email_key",
    "created_time": "created_at_ms",
    "last_modified_time": "updated_at_ms",
}


@pytest.mark.parametrize("field", ["contact_name", "company_name", "email", "search"])
def test_a_substring_of_a_name_company_or_email_is_read_as_its_two_sides(
    sided: None, tenant: Tenant, database: Database, field: str
) -> None:
    # The keys that begin with the term and the keys that hold it after their first character (migration 0018),
    # walked merged when the listing is sorted by that key and read as two sides matches first in every order:
    # together they must be every key that holds it, each once, in the listing's order. A search reads the three
    # keys' sides and the phone's, some of which overlap (a name and an email holding the same term).
    key = f"{field}_key"
    by = "search_text" if field == "search" else f"{field}_contains"

    def check(connection: Connection) -> int:
        org = int(tenant.organization_id)
        columns = ", ".join(SORT_KEYS.values())
        everyone = connection.execute(
            text(
                f"SELECT contact_id, {key}, status, summary_doc, {columns} FROM contacts WHERE organization_id = :org"
            ),
            {"org": org},
        ).all()
        repo, seen = ContactsRepo(connection), 0
        listings = itertools.product(SIDED_TERMS, ORDERS, "AD", [None, "inactive"], "123")
        for term, sort, order, status, page in listings:
            params = [(by, term), ("sort_column", sort), ("sort_order", order)]
            params += [("filter_by", "Status.Inactive")] if status else []
            query = parse_list_query([*params, ("page", page), ("per_page", "3")])
            value = query.search_text if field == "search" else query.filters[0].value
            held = sorted(
                (row for row in everyone if value in row[1] and status in (None, row[2])),
                key=lambda row: (getattr(row, SORT_KEYS[sort]), row[0]),
                reverse=order == "D",
            )
            expected = [bytes(row[3]) for row in held[query.offset : query.offset + 4]]
            assert _rows(connection, repo.walk_statement(tenant.organization_id, query)) == expected, params
            assert (
                _rows(connection, repo.matches_first_statement(tenant.organization_id, query)) == expected
            ), params
            seen += len(expected)
        return seen

    assert database.run(check, write=False) > 500


@pytest.mark.parametrize("sort", ["email", "company_name"])
def test_a_substring_read_matches_first_takes_its_start_from_a_range(
    sided: None, tenant: Tenant, database: Database, sort: str
) -> None:
    # Not one OR (a BitmapOr, then every match's row read for its sort key: ~110 ms for `contact_name_contains=ivan`
    # by email over 1,000,000 customers), but the range of the key's index beside the tail (the trigram index over a
    # large table: test_postgres.py).
    query = parse_list_query([("contact_name_contains", "ivan"), ("sort_column", sort)])
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE contacts")

    def plan(connection: Connection) -> str:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # as over a million rows
        statement = ContactsRepo(connection).matches_first_statement(tenant.organization_id, query)
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        return "\n".join(connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars())

    read = database.run(plan, write=False)
    assert "Append" in read, read
    assert "BitmapOr" not in read, read
    # Its covering index carries the email and the company (migration 0017): the range is read alone.
    assert "Index Only Scan using ix_contacts_walk_name" in read, read
    assert "contact_name_key >= 'ivan'" in read, read


def test_a_substring_at_the_start_of_the_sorted_key_is_read_from_its_range(
    sided: None, tenant: Tenant, database: Database
) -> None:
    query = parse_list_query(
        [("contact_name_contains", "ivan"), ("sort_column", "contact_name"), ("page", "2")]
    )
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE contacts")

    def plan(connection: Connection, statement: Any, *off: str) -> str:
        for setting in ("enable_seqscan", *off):
            connection.exec_driver_sql(f"SET LOCAL {setting} = off")  # as over a million rows
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        return "\n".join(connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars())

    organization = tenant.organization_id
    walked = database.run(
        lambda c: plan(c, ContactsRepo(c).walk_statement(organization, query), "enable_sort"), write=False
    )
    assert "Merge Append" in walked, walked
    assert "contact_name_key >= 'ivan'" in walked, walked  # the run: a range of the name order's index


def test_a_walk_past_its_deadline_reads_the_page_matches_first(database: Database) -> None:
    def read(connection: Connection) -> tuple[list[bytes], str, int]:
        before = connection.execute(text("SHOW statement_timeout")).scalar()
        walk = select(literal_column("'walked'::bytea")).where(text("pg_sleep(1) IS NOT NULL"))
        first = select(literal_column("'matches first'::bytea"))
        rows = postgres_pages.page_rows(connection, walk, first)
        assert connection.execute(text("SHOW statement_timeout")).scalar() == before
        return rows, str(before), int(connection.execute(text("SELECT 1")).scalar_one())

    rows, _, usable = database.run(read, write=False)
    assert rows == [b"matches first"]
    assert usable == 1  # the transaction goes on after the cancelled walk


def test_the_deadline_ends_with_a_walk_that_finds_its_page(database: Database) -> None:
    def read(connection: Connection) -> tuple[list[bytes], Any, Any]:
        before = connection.execute(text("SHOW statement_timeout")).scalar()
        rows = postgres_pages.page_rows(
            connection, select(literal_column("'walked'::bytea")), select(literal_column("'first'::bytea"))
        )
        after = connection.execute(text("SHOW statement_timeout")).scalar()
        # A later statement of the same transaction may take longer than the walk's deadline.
        connection.execute(text("SELECT pg_sleep(:s)"), {"s": postgres_pages.WALK_DEADLINE_MS * 3 / 1000})
        return rows, before, after

    rows, before, after = database.run(read, write=False)
    assert rows == [b"walked"]
    assert after == before


def test_other_errors_of_the_walk_are_not_taken_for_its_deadline(database: Database) -> None:
    def read(connection: Connection) -> list[bytes]:
        walk = select(literal_column("1 / 0"))
        return postgres_pages.page_rows(connection, walk, select(literal_column("'first'::bytea")))

    with pytest.raises(DBAPIError) as raised:
        database.run(read, write=False)
    assert "division by zero" in str(raised.value)


@pytest.mark.parametrize(("short_term", "settings"), [(False, b"on off 0"), (True, b"off off 0")])
def test_a_short_term_is_read_matches_first_without_bitmap_scans(
    database: Database, short_term: bool, settings: bytes
) -> None:
    # pg_trgm cannot narrow a term under 3 characters: its bitmap scan would recheck every row. No matches-first
    # read is compiled by JIT.
    def read(connection: Connection) -> tuple[list[bytes], Any, Any]:
        before = [connection.execute(text(f"SHOW {name}")).scalar() for name in ("enable_bitmapscan", "jit")]
        walk = select(literal_column("'walked'::bytea")).where(text("pg_sleep(1) IS NOT NULL"))
        seen = " || ' ' || ".join(
            f"current_setting('{name}')" for name in ("enable_bitmapscan", "jit", "statement_timeout")
        )
        first = select(literal_column(f"convert_to({seen}, 'UTF8')"))
        rows = postgres_pages.page_rows(connection, walk, first, short_term=short_term)
        after = [connection.execute(text(f"SHOW {name}")).scalar() for name in ("enable_bitmapscan", "jit")]
        return rows, before, after

    rows, before, after = database.run(read, write=False)
    assert rows == [settings]
    assert after == before  # only for that read


@pytest.mark.parametrize(("term", "short"), [("iv", True), ("ivan", False)])
def test_listings_say_whether_they_hold_a_short_term(
    tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, term: str, short: bool
) -> None:
    seen: list[bool] = []

    def page_rows(
        connection: Connection, walk: Any, first: Any, *, short_term: bool, **_: Any
    ) -> list[bytes]:
        seen.append(short_term)
        return []

    monkeypatch.setattr(postgres_pages, "page_rows", page_rows)
    for params in ([("first_name_contains", term)], [("search_text", term)]):
        query = parse_list_query(params)
        database.run(
            lambda c, q=query: ContactsRepo(c).list_summaries(tenant.organization_id, q), write=False
        )
    assert seen == [short, short]


@pytest.mark.parametrize(("deadline_ms", "expected"), [("50", b"first"), ("0", b"walked")])
def test_the_walk_deadline_is_a_setting(database_url: str, deadline_ms: str, expected: bytes) -> None:
    # 50 ms cuts a 0.2 s walk short; 0 lets a walk past the default deadline (0.4 s) run to its end.
    settings = Settings.from_env(
        {"ZCONTACTS_POSTGRES_WALK_DEADLINE_MS": deadline_ms}, database_url=database_url
    )
    app = create_app(settings)
    database: Database = app.state["database"]
    sleep = 0.2 if expected == b"first" else postgres_pages.WALK_DEADLINE_MS * 1.3 / 1000
    walk = select(literal_column("'walked'::bytea")).where(text(f"pg_sleep({sleep}) IS NOT NULL"))
    first = select(literal_column("'first'::bytea"))
    try:
        rows = database.run(lambda c: postgres_pages.page_rows(c, walk, first), write=False)
    finally:
        database.dispose()
    assert rows == [expected]


@pytest.fixture
def astray() -> Iterator[None]:
    postgres_pages.forget_astray()
    yield
    postgres_pages.forget_astray()


_SLOW = select(literal_column("'walked'::bytea")).where(text("pg_sleep(1) IS NOT NULL"))
_FAILS = select(literal_column("1 / 0"))  # a walk that must not run
_QUICK = select(literal_column("'walked'::bytea"))


def _page(database: Database, walk: Any, offset: int, *, listing: Any = "L", short: bool = False) -> bytes:
    seen = "convert_to('first ' || current_setting('enable_bitmapscan'), 'UTF8')"
    first = select(literal_column(seen))
    rows = database.run(
        lambda c: postgres_pages.page_rows(c, walk, first, short_term=short, listing=listing, offset=offset),
        write=False,
    )
    return bytes(rows[0])


def test_a_listing_whose_walk_went_astray_is_read_matches_first_from_that_page_on(
    database: Database, astray: None
) -> None:
    assert _page(database, _SLOW, 400) == b"first on"
    assert _page(database, _FAILS, 400) == b"first on"  # no second deadline for the same page
    assert _page(database, _FAILS, 800) == b"first on"  # nor for deeper ones
    assert _page(database, _QUICK, 200) == b"walked"  # a shallower page still walks
    assert _page(database, _QUICK, 400, listing="M") == b"walked"  # other listings too
    assert _page(database, _SLOW, 200) == b"first on"
    assert _page(database, _FAILS, 200) == b"first on"  # from the shallowest page that went astray
    assert _page(database, _QUICK, 0, listing=None) == b"walked"  # no listing: nothing remembered


def test_a_remembered_short_term_is_read_without_bitmap_scans(database: Database, astray: None) -> None:
    assert _page(database, _SLOW, 0, short=True) == b"first off"
    assert _page(database, _FAILS, 0, short=True) == b"first off"
    assert database.run(lambda c: c.execute(text("SHOW enable_bitmapscan")).scalar(), write=False) == "on"


def test_walks_gone_astray_are_forgotten_in_time(
    database: Database, astray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_pages, "ASTRAY_SECONDS", 0.0)
    assert _page(database, _SLOW, 0) == b"first on"
    assert _page(database, _QUICK, 0) == b"walked"


def test_every_page_of_a_listing_is_one_listing(
    tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Any, int]] = []

    def page_rows(
        connection: Connection, walk: Any, first: Any, *, listing: Any, offset: int, **_: Any
    ) -> list[bytes]:
        seen.append((listing, offset))
        return []

    monkeypatch.setattr(postgres_pages, "page_rows", page_rows)
    for params in (
        [("email_contains", "ivan"), ("page", "1")],
        [("email_contains", "ivan"), ("page", "3"), ("per_page", "200")],
        [("email_contains", "ivan"), ("page", "3"), ("sort_order", "D")],
        [("email_contains", "ivan"), ("page", "3"), ("filter_by", "Status.Active")],
    ):
        query = parse_list_query(params)
        database.run(
            lambda c, q=query: ContactsRepo(c).list_summaries(tenant.organization_id, q), write=False
        )
    assert [offset for _, offset in seen] == [0, 400, 400, 400]
    assert seen[0][0] == seen[1][0]
    assert len({listing for listing, _ in seen}) == 3
    hash(seen[0][0])


def _timed(seconds: float, label: str) -> Any:
    return select(literal_column(f"'{label}'::bytea")).where(text(f"pg_sleep({seconds}) IS NOT NULL"))


def test_a_slow_walk_is_timed_against_matches_first_and_the_faster_kept(
    database: Database, astray: None
) -> None:
    def page(walk: Any, first: Any, offset: int = 0) -> bytes:
        rows = database.run(
            lambda c: postgres_pages.page_rows(c, walk, first, listing="L", offset=offset), write=False
        )
        return bytes(rows[0])

    walk, first, near = _timed(0.1, "walked"), _timed(0, "first"), _timed(0.07, "first")
    assert page(walk, first) == b"walked"  # within the deadline, but slow
    assert page(walk, first) == b"first"  # timed the other way once
    assert page(_FAILS, first) == b"first"  # the faster: no walk any more
    # Another page of the listing, whose other way is not clearly faster (CLEARLY_FASTER), keeps its walk.
    assert page(walk, near, 200) == b"walked"
    assert page(walk, near, 200) == b"first"
    assert page(walk, _FAILS, 200) == b"walked"
    assert page(walk, _FAILS, 200) == b"walked"


def test_a_quick_walk_is_never_timed_against_matches_first(database: Database, astray: None) -> None:
    for _ in range(3):
        rows = database.run(
            lambda c: postgres_pages.page_rows(c, _QUICK, _FAILS, listing="Q", offset=0), write=False
        )
        assert rows == [b"walked"]


def test_slow_walks_are_timed_again_in_time(
    database: Database, astray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_pages, "ASTRAY_SECONDS", 0.0)

    def page(walk: Any, first: Any) -> bytes:
        rows = database.run(
            lambda c: postgres_pages.page_rows(c, walk, first, listing="T", offset=0), write=False
        )
        return bytes(rows[0])

    assert page(_timed(0.1, "walked"), _FAILS) == b"walked"
    assert page(_QUICK, _FAILS) == b"walked"  # what was timed has expired: no matches-first read


@pytest.mark.parametrize("most", [512, 2])
def test_a_name_part_s_substring_is_read_as_the_values_holding_it_while_they_are_few(
    customers: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch, most: int
) -> None:
    # Four first names and three last names: at most `most` values, the page reads the values holding the term
    # (a recursive CTE inside its statement); over it, the term's own condition. Both are the listing.
    monkeypatch.setattr(postgres_pages, "VALUES_MOST", most)
    postgres_pages.forget_astray()
    listings = [
        [by, ("sort_column", sort), ("sort_order", order), ("page", page), ("per_page", "4"), *status]
        for by, sort, order, page, status in itertools.product(
            [("first_name_contains", "iv"), ("first_name_contains", "van"), ("last_name_contains", "im")],
            ORDERS,
            "AD",
            "13",
            [[], [("filter_by", "Status.Inactive")]],
        )
    ]

    def check(connection: Connection) -> int:
        repo, seen = ContactsRepo(connection), 0
        for params in listings:
            query = parse_list_query(params)
            statement = repo.matches_first_statement(tenant.organization_id, query)
            assert ("name_values" in str(statement.compile(connection))) == (most > 4), params
            expected = _rows(connection, repo.list_statement(tenant.organization_id, query))
            assert _rows(connection, statement) == expected, params
            seen += len(expected)
        return seen

    assert database.run(check, write=False) > 100
    postgres_pages.forget_astray()


def test_a_count_of_values_is_kept_and_forgotten(
    customers: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres_pages.forget_astray()
    query = parse_list_query([("first_name_contains", "iv")])
    counts: list[int] = []
    real = postgres_pages.few_values

    def counting(connection: Connection, key: Any, count: Any) -> bool:
        counts.append(connection.execute(count(100)).scalar_one())
        return real(connection, key, count)

    monkeypatch.setattr(postgres_pages, "few_values", counting)

    def few() -> bool:
        return database.run(lambda c: ContactsRepo(c)._few_values(tenant.organization_id, query), write=False)

    assert postgres_pages.VALUES_MOST == value_plan.CAP  # the same bound on both backends
    assert [few(), few(), few()] == [True, True, True]
    assert counts == [4, 4, 4]  # Ivan, Ivana, Ada, Bo: each value once
    monkeypatch.setattr(postgres_pages, "VALUES_MOST", 3)  # no longer few, once forgotten
    assert few()
    postgres_pages.forget_astray()
    assert not few()
    postgres_pages.forget_astray()


def test_a_walk_that_finds_its_page_counts_no_values(
    customers: list[str], tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The matches-first statement is built only when the page is read that way: a walk within its deadline costs
    # no count of values.
    def never(*_: Any) -> bool:
        raise AssertionError("counted values for a page that was walked")

    monkeypatch.setattr(postgres_pages, "few_values", never)
    postgres_pages.forget_astray()
    query = parse_list_query([("first_name_contains", "iv"), ("sort_column", "email")])
    rows = database.run(lambda c: ContactsRepo(c).list_summaries(tenant.organization_id, query), write=False)
    assert rows


@pytest.mark.parametrize("astray", [False, True], ids=["walked", "matches first"])
def test_a_page_s_statements_are_built_once_per_listing_and_organization(
    client: Any, tenant: Tenant, database: Database, astray: bool
) -> None:
    # Built statements are kept (contacts._built): the same listing asked again reuses them, and another
    # organization's listing of the same shape has its own.
    other = make_tenant(database, name="Other")
    for who, name in ((tenant, "Ivan Ours"), (other, "Ivan Theirs")):
        make_contact(client, who, contact_name=name, first_name="Ivan")
    postgres_pages.forget_astray()
    contacts_module._built_statements.clear()
    query = parse_list_query([("first_name_contains", "va"), ("sort_column", "email")])
    if astray:  # both listings read matches first, without a walk
        for who in (tenant, other):
            postgres_pages._remember_astray((who.organization_id, query), 0)

    def names(organization_id: str) -> list[str]:
        rows = database.run(lambda c: ContactsRepo(c).list_summaries(organization_id, query), write=False)
        return [json.loads(row)["contact_name"] for row in rows]

    assert names(tenant.organization_id) == ["Ivan Ours"]
    kept = dict(contacts_module._built_statements)
    assert names(tenant.organization_id) == ["Ivan Ours"]
    assert contacts_module._built_statements == kept  # nothing built again
    assert names(other.organization_id) == ["Ivan Theirs"]
    assert len(contacts_module._built_statements) > len(kept)
    postgres_pages.forget_astray()
