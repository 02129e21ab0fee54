"""The benchmark's pure helpers: workload requests, wrk scripts and output, ratios and target checks.
(The benchmark itself is never run by the test suite.)"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from bench.data import customer_body, dataset, search_term
from bench.page_audit import audit, listings
from bench.report import Cell, check_targets, markdown_table, ratio
from bench.run import await_quiet, past_deleted
from bench.search_plans import LISTINGS, search_pages, search_plans_table
from bench.workloads import JSON_SERVER, PLACEHOLDER, Inputs, last_page, plan
from bench.wrk import lua_script, lua_string, parse
from rich.console import Console

from bench import page_audit, servers
from zcontacts.cli import SERVE_HTTP, event_loop_for
from zcontacts.storage.database import Reader

INPUTS = Inputs(
    count=1_000_000,
    organization_id="10234695",
    token="1000.abc",
    sample_ids=["46000000000000003", "46000000000000007"],
    companies=["Acme Labs 0001", "Blue & Co"],
    search_terms=["4f2a1c"],
    update_ids=["46000000000000100"],
    delete_ids=["46000000000000200", "46000000000000201"],
)


def test_zoho_plans_carry_auth_and_rotate_ids() -> None:
    get = plan("zoho", "get", INPUTS)
    assert get.paths == ["/expense/v1/contacts/46000000000000003", "/expense/v1/contacts/46000000000000007"]
    assert get.headers["Authorization"] == "Zoho-oauthtoken 1000.abc"
    assert get.headers["X-com-zoho-expense-organizationid"] == "10234695"
    create = plan("zoho", "create", INPUTS)
    assert (create.method, create.expect) == ("POST", 201)
    assert PLACEHOLDER in (create.body or "")
    assert plan("zoho", "delete", INPUTS).paths[1].endswith("/46000000000000201")


def test_list_plans_encode_their_parameters() -> None:
    (first, other) = plan("zoho", "list_filter", INPUTS).paths
    assert parse_qs(urlsplit(first).query) == {"company_name": ["Acme Labs 0001"]}
    assert parse_qs(urlsplit(other).query) == {"company_name": ["Blue & Co"]}
    assert plan("zoho", "list_deep", INPUTS).paths == ["/expense/v1/contacts?page=5000"]
    assert plan("zoho", "list", INPUTS).paths == ["/expense/v1/contacts"]


def test_json_server_spells_the_same_operations_its_way() -> None:
    listing = parse_qs(urlsplit(plan(JSON_SERVER, "list_search", INPUTS).paths[0]).query)
    assert listing == {
        "q": ["4f2a1c"],
        "_sort": ["contact_name"],
        "_order": ["asc"],
        "_limit": ["200"],
        "_page": ["1"],
    }
    assert plan(JSON_SERVER, "update", INPUTS).method == "PATCH"
    assert plan(JSON_SERVER, "get", INPUTS).paths[0] == "/contacts/46000000000000003"


@pytest.mark.parametrize(("count", "page"), [(0, 1), (1, 1), (200, 1), (201, 2), (1_000_000, 5000)])
def test_last_page(count: int, page: int) -> None:
    assert last_page(count) == page


def test_json_server_delete_cells_start_past_what_the_last_one_deleted() -> None:
    victims = replace(INPUTS, delete_ids=[str(i) for i in range(100)])
    after = past_deleted(victims, requests=7, connections=16)  # 7 answered, up to 16 more sent
    assert after.delete_ids == [str(i) for i in range(23, 100)]
    assert after.sample_ids == INPUTS.sample_ids


def test_lua_strings_escape_everything_lua_would_misread() -> None:
    assert lua_string('a"b\\c') == '"a\\"b\\\\c"'
    assert lua_string("é\n") == '"\\195\\169\\010"'


def test_lua_script_rotates_without_repeats_across_threads() -> None:
    script = lua_script(plan("zoho", "delete", INPUTS), run_tag="t1", threads=2)
    assert '"/expense/v1/contacts/46000000000000200"' in script
    assert "local threads = 2" in script
    assert "(counter * threads + (tid or 1) - 1) % #paths" in script


def test_parse_reads_the_done_line() -> None:
    output = (
        "Running 5s test @ http://127.0.0.1:1\n"
        'BENCH-RESULT {"requests":5000,"duration_us":5000000,"p50_us":1500,"p99_us":9000,"max_us":20000,'
        '"status":3,"socket":1}\n'
    )
    result = parse(output)
    assert (result.rps, result.p50_ms, result.p99_ms, result.bad_status, result.socket_errors) == (
        1000,
        1.5,
        9,
        3,
        1,
    )
    with pytest.raises(ValueError, match="no result"):
        parse("wrk: connection refused")


def _cell(
    target: str, workload: str, rps: float, connections: int = 16, size: int = 10_000, p99: float = 5
) -> Cell:
    return Cell(
        size=size, workload=workload, connections=connections, target=target, rps=rps, p50_ms=1, p99_ms=p99
    )


def test_ratios_and_checks_take_the_worst_cell() -> None:
    cells = [
        _cell("zcontacts", "get", 3000), _cell("limit", "get", 4000), _cell("starlette", "get", 6000),
        _cell("json-server", "get", 500),
        _cell("prism", "get", 1000), _cell("zcontacts", "create", 600), _cell("json-server", "create", 300),
        _cell("prism", "create", 900), _cell("zcontacts", "get", 3000, connections=64, p99=25),
        _cell("zcontacts", "list_deep", 500, connections=1, size=1_000_000, p99=4),
    ]  # fmt: skip
    assert ratio(cells[0], cells[1]) == 0.75
    checks = {c.name: c for c in check_targets(cells, cold_start_s=0.8, peak_rss_mb=200)}
    assert checks["zcontacts ≥ 3× json-server on every workload"].met is False  # create: 2×
    assert "create" in checks["zcontacts ≥ 3× json-server on every workload"].detail
    assert checks["zcontacts ≥ Prism on every workload"].met is False
    assert checks["zcontacts ≥ 60% of the limit on get and list"].met is True
    starlette = checks["zcontacts ≥ 60% of the limit under bare Starlette on get and list"]
    assert (starlette.met, starlette.detail) == (False, "worst 0.50× (get c16 n=10,000)")
    assert checks["p99 < 20 ms at 64 connections"].met is False
    assert checks["any list page over 1,000,000 customers < 20 ms server time"].met is True
    # Search pages no cell measures count too.
    searched = [("search_text=com", 1.6), ("search_text=ivan", 104.0), ("search_text=labs", 3.6)]
    with_searches = {
        c.name: c for c in check_targets(cells, cold_start_s=0.8, peak_rss_mb=200, search_pages=searched)
    }
    page_check = with_searches["any list page over 1,000,000 customers < 20 ms server time"]
    assert page_check.met is False
    assert "up to 104.0 ms (search_text=ivan)" in page_check.detail
    assert checks["cold start < 1 s"].met is True
    assert checks["resident memory < 150 MB under load"].met is False
    assert "| 10,000 | get | 16 | 3,000 | 1.00 | 5.00 | 4,000 | 0.75× | 6,000 | 0.50× |" in markdown_table(
        cells
    )


def test_tables_mark_cells_with_error_responses() -> None:
    failed = replace(_cell("json-server", "delete", 7), bad_status=7)
    table = markdown_table([_cell("zcontacts", "delete", 3000), failed], peers=("json-server",))
    assert "| 10,000 | delete | 16 | 3,000 | 1.00 | 5.00 | 7! | 428.57× |" in table


def test_generated_customers_are_valid_unique_and_findable() -> None:
    bodies = [customer_body(n) for n in range(2000)]
    names = {b.contact_name for b in bodies}
    assert len(names) == 2000
    for n in (0, 17, 1999):
        assert search_term(n) in (bodies[n].contact_name or "")


def test_replicas_seed_makes_an_organization_with_customers(tmp_path: Path) -> None:
    from bench.replicas import seed

    organization_id, token, ids = seed(f"sqlite:///{tmp_path / 'seed.db'}", 3)
    assert organization_id
    assert token.startswith("1000.")
    assert len(set(ids)) == 3


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_zcontacts_and_the_limit_run_under_the_same_server(server: str) -> None:
    """`--server` puts both under one HTTP server with the same process count; under granian zcontacts gets the
    settings `zcontacts serve` would pass (database, quiet logs, no rate limit)."""
    headers = {"Authorization": "Zoho-oauthtoken 1000.abc"}
    zc = servers.zcontacts("sqlite:////tmp/x.db", "/ready", headers, workers=2, server=server)
    limit = servers.limit(Path("/tmp/x.db"), "/ready", headers, workers=2, server=server)
    for target in (zc, limit):
        assert target.command[target.command.index("--workers") + 1] == "2"
        assert "{port}" in target.command
    assert limit.command[2] == server
    assert zc.env["ZCONTACTS_RATE_LIMIT_PER_MINUTE"] == "0"
    if server == "granian":
        assert zc.command[-1] == "zcontacts.app:create_app_from_env"
        assert zc.env["ZCONTACTS_DATABASE_URL"] == "sqlite:////tmp/x.db"
        assert zc.env["ZCONTACTS_LOG_LEVEL"] == "warning"
    else:
        assert zc.command[2:4] == ["zcontacts", "serve"]
        assert zc.command[zc.command.index("--database-url") + 1] == "sqlite:////tmp/x.db"
        # The limit gets the settings serve gives uvicorn, and the loop serve picks for that many workers.
        for flag in ("--no-proxy-headers", "--no-server-header", "--no-access-log"):
            assert flag in limit.command
        assert limit.command[limit.command.index("--loop") + 1] == event_loop_for(2)
        one = servers.limit(Path("/tmp/x.db"), "/ready", headers)
        assert one.command[one.command.index("--loop") + 1] == "zcontacts.event_loop:new_event_loop"


def test_http_puts_zcontacts_and_the_limit_under_that_implementation() -> None:
    """bench.served --http: both run under uvicorn with that HTTP implementation and serve's other settings;
    without it, the limit keeps serve's protocol (httptools with a bounded head)."""
    headers = {"Authorization": "Zoho-oauthtoken 1000.abc"}
    zc = servers.zcontacts("sqlite:////tmp/x.db", "/ready", headers, http="zttp")
    limit = servers.limit(Path("/tmp/x.db"), "/ready", headers, http="zttp")
    for target in (zc, limit):
        assert target.command[1:3] == ["-m", "uvicorn"]
        assert target.command[target.command.index("--http") + 1] == "zttp"
        assert target.command[target.command.index("--loop") + 1] == event_loop_for(1)
        for flag in ("--no-proxy-headers", "--no-server-header", "--no-access-log"):
            assert flag in target.command
    assert zc.command[3] == "zcontacts.app:create_app_from_env"
    assert zc.env["ZCONTACTS_DATABASE_URL"] == "sqlite:////tmp/x.db"
    plain = servers.limit(Path("/tmp/x.db"), "/ready", headers)
    assert (
        plain.command[plain.command.index("--http") + 1] == SERVE_HTTP == "zcontacts.http_protocol:Protocol"
    )


def test_the_starlette_limit_answers_as_the_raw_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bare-Starlette limit runs the raw limit's own statements: every workload, sent to each app over a
    copy of one small dataset, gets the same status, and the reads the same bytes."""
    import asyncio
    import shutil

    import httpx
    from bench.data import _load
    from bench.limit_app import LimitApp
    from bench.limit_starlette import create_app
    from bench.run import inputs_for
    from bench.workloads import WORKLOADS

    loaded = _load(tmp_path / "set.db", 300, None)
    inputs = inputs_for(loaded)
    raw, framed = tmp_path / "raw.db", tmp_path / "framed.db"
    for copy in (raw, framed):
        shutil.copy(loaded.path, copy)

    async def answers(app: object) -> list[tuple[int, bytes]]:
        seen = []
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for workload in WORKLOADS:
                work = plan("zoho", workload, replace(inputs, update_ids=inputs.sample_ids[:2],
                                                      delete_ids=inputs.sample_ids[-2:]))  # fmt: skip
                for n, path in enumerate(work.paths[:2]):
                    body = None if work.body is None else work.body.replace(PLACEHOLDER, str(n))
                    reply = await client.request(work.method, path, headers=work.headers, content=body)
                    assert reply.status_code == work.expect, (workload, reply.text)
                    seen.append(
                        (reply.status_code, b"" if workload in ("create", "update") else reply.content)
                    )
        return seen

    monkeypatch.setenv("BENCH_DATABASE", str(framed))
    framed_answers = asyncio.run(answers(create_app()))
    assert len(framed_answers) >= len(WORKLOADS)
    assert framed_answers == asyncio.run(answers(LimitApp(str(raw))))


def test_search_plans_table_compares_every_plan_with_the_trigram_plan() -> None:
    loaded = dataset(300)
    pages = search_pages(loaded)
    assert all(page.same in (True, None) for page in pages)
    console = Console(record=True, width=200)
    console.print(search_plans_table(loaded.count, pages))
    lines = [line for line in console.export_text().splitlines() if "=" in line and "│" in line]
    assert len(lines) == len(LISTINGS) + 1
    for line in lines:
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        assert cells[1] in (
            "contains",
            "listed",
            "scan",
            "member",
            "run",
            "index",
            "values",
            "merged",
            "walk",
        ), line
        assert cells[4] in ("yes", ""), line  # deep pages are not compared


def test_the_page_audit_reads_every_listing_and_keeps_the_slow_ones() -> None:
    loaded = dataset(300)
    every = list(listings([1, 5]))
    assert len(every) == len(set(every)) > 1_000  # every filter and search, sort, order, status and page
    count, slow = audit(loaded, [1, 5], over_ms=0.0)  # every page is "slow" at 0 ms
    assert count == len(every) == len(slow)
    assert [timed.ms for timed in slow] == sorted((timed.ms for timed in slow), reverse=True)
    assert {timed.listing for timed in slow} == set(every)
    assert audit(loaded, [1], over_ms=10_000.0)[1] == []
    isolated = audit(loaded, [1], over_ms=0.0, only="search_text", isolated=True)
    assert isolated[0] == len(isolated[1]) == sum("search_text" in listing for listing in listings([1]))


def test_an_isolated_audit_reads_each_listing_on_a_reader_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # A reader keeps hints (Reader.uneven) that choose later listings' plans: an isolated audit starts each afresh.
    made: list[Reader] = []

    def reader(connection: Any) -> Reader:
        made.append(Reader(connection))
        return made[-1]

    monkeypatch.setattr(page_audit, "Reader", reader)
    count, _ = page_audit.audit(dataset(300), [1], over_ms=10_000.0, only="phone", isolated=True)
    assert len(made) == count + 1 > 10  # the audit's own, then one per listing
    made.clear()
    page_audit.audit(dataset(300), [1], over_ms=10_000.0, only="phone")
    assert len(made) == 1


def test_a_first_read_audit_reads_each_listing_once_on_a_reader_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a page costs with nothing kept for it: one read, a fresh reader (no marks, no counts), even if slow.
    made: list[Reader] = []
    reads: list[Any] = []

    def reader(connection: Any) -> Reader:
        made.append(Reader(connection))
        return made[-1]

    def page_rows(reader: Reader, organization_id: str, query: Any) -> list[bytes]:
        reads.append(query)
        return []

    monkeypatch.setattr(page_audit, "Reader", reader)
    monkeypatch.setattr(page_audit, "_sqlite_page_rows", page_rows)
    count, slow = page_audit.audit(dataset(300), [1, 5], over_ms=0.0, only="phone", first=True)
    assert count == len(slow) == len(reads) == len(made) - 1 > 10
    reads.clear()
    page_audit.audit(dataset(300), [1, 5], over_ms=0.0, only="phone")
    assert len(reads) == 3 * count  # best of three: a page at or over the bound is read three times


def test_await_quiet_waits_for_leftover_work_and_gives_up_on_endless_work() -> None:
    # A child that keeps working ~0.8 s after it is started, as a server working through requests whose
    # clients have gone, then idles; and one that never stops.
    busy_then_idle = (
        "import time\nend = time.monotonic() + 0.8\nwhile time.monotonic() < end: pass\ntime.sleep(60)"
    )
    endless = "while True: pass"
    for code, limit_s, quiet in ((busy_then_idle, 10.0, True), (endless, 1.0, False)):
        process = subprocess.Popen([sys.executable, "-c", code])
        try:
            target = servers.Target(name="t", dialect="zoho", command=[], ready_path="/", process=process)
            began = time.monotonic()
            assert await_quiet(target, limit_s=limit_s) is quiet
            waited = time.monotonic() - began
            assert waited >= (0.5 if quiet else limit_s)
            if quiet:  # it went on to the next cell soon after the work ended
                assert waited < 5
                assert servers.cpu_seconds(process.pid) >= 0.5
        finally:
            process.kill()
            process.wait()
