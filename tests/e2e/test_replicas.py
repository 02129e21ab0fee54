"""Replicas: several real `zcontacts serve` processes on one PostgreSQL database behave as one server: a write
through one is read through another, ids never collide under concurrent creates, contact_name stays unique,
and (with Redis) the rate limit is one budget shared by all of them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.backends import PostgresDatabases, libpq_url
from tests.e2e.server import Server, headers
from tests.helpers import make_tenant
from zcontacts.storage.database import Database

pytestmark = [
    pytest.mark.e2e,
    # Under heavy load an httpx connection to a server may be garbage-collected after its event loop closed;
    # that ResourceWarning says nothing about the servers under test.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
CONTACTS = "/expense/v1/contacts"
# Small pools, so the test holds few of the shared server's connections (and proves the setting reaches workers).
POOL = {"ZCONTACTS_POOL_SIZE": "2", "ZCONTACTS_MAX_OVERFLOW": "2"}


@pytest.fixture(scope="module")
def shared_url(postgres: PostgresDatabases) -> Iterator[str]:
    """A fresh PostgreSQL database shared by this module's replicas."""
    url = postgres.fresh()
    yield url
    postgres.release(url)


@pytest.fixture(scope="module")
def replicas(shared_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two servers on one database, started once for the module (each test has an organization of its own)."""
    workdir = tmp_path_factory.mktemp("replicas")
    servers = [Server(database_url=shared_url, workdir=workdir, env=POOL) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def auth(shared_url: str) -> dict[str, str]:
    """Headers of a new organization's full-access token."""
    database = Database.from_url(shared_url)
    tenant = make_tenant(database, name="Replicated")
    database.dispose()
    return tenant.headers


def test_a_write_through_one_replica_is_read_through_the_other(
    replicas: list[Server], auth: dict[str, str]
) -> None:
    one, other = replicas
    created = httpx.post(one.url + CONTACTS, json={"contact_name": "Seen Everywhere"}, headers=auth)
    assert created.status_code == 201
    url = f"{CONTACTS}/{created.json()['contact']['contact_id']}"
    assert httpx.get(other.url + url, headers=auth).json()["contact"] == created.json()["contact"]
    updated = httpx.put(other.url + url, json={"notes": "from the other"}, headers=auth)
    assert updated.status_code == 200
    assert httpx.get(one.url + url, headers=auth).json()["contact"]["notes"] == "from the other"
    listed = httpx.get(one.url + CONTACTS, headers=auth).json()["customers"]
    assert [c["contact_name"] for c in listed] == ["Seen Everywhere"]
    assert httpx.delete(one.url + url, headers=auth).status_code == 200
    assert httpx.get(other.url + url, headers=auth).status_code == 404


async def _post_all(
    requests: list[tuple[Server, dict[str, Any]]], auth: dict[str, str]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(headers=auth, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(client.post(s.url + CONTACTS, json=body) for s, body in requests))


def test_ids_never_collide_under_concurrent_creates_on_both(
    replicas: list[Server], auth: dict[str, str]
) -> None:
    bodies = [
        (
            server,
            {
                "contact_name": f"Customer {n}-{i}",
                "contact_persons": [{"first_name": "A"}, {"first_name": "B"}],
            },
        )
        for n, server in enumerate(replicas)
        for i in range(100)
    ]
    responses = asyncio.run(_post_all(bodies, auth))
    assert [r.status_code for r in responses] == [201] * 200, {r.status_code: r.text for r in responses}
    ids: list[str] = []
    for response in responses:
        contact = response.json()["contact"]
        ids += [contact["contact_id"], contact["billing_address"]["address_id"],
                contact["shipping_address"]["address_id"]]  # fmt: skip
        ids += [person["contact_person_id"] for person in contact["contact_persons"]]
    assert len(ids) == 200 * 5
    assert len(set(ids)) == len(ids)
    page = httpx.get(replicas[1].url + CONTACTS, params={"per_page": 200}, headers=auth).json()
    assert len(page["customers"]) == 200


def test_contact_name_stays_unique_across_replicas(replicas: list[Server], auth: dict[str, str]) -> None:
    spellings = ["Same Name", "same name", "SAME NAME", " Same Name "]
    bodies = [(replicas[i % 2], {"contact_name": spellings[i % 4]}) for i in range(20)]
    responses = asyncio.run(_post_all(bodies, auth))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * 19, [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert response.json()["code"] == 3062, response.text
    for server in replicas:
        listed = httpx.get(server.url + CONTACTS, headers=auth).json()["customers"]
        assert len(listed) == 1


def test_serve_with_workers_shares_the_port_and_respects_the_pool(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    url = postgres.fresh()
    server = Server(database_url=url, workdir=tmp_path, env=POOL).start("--workers", "2")
    try:
        auth = headers(*server.credentials())
        bodies = [(server, {"contact_name": f"Worker {i}"}) for i in range(60)]
        responses = asyncio.run(_post_all(bodies, auth))
        assert [r.status_code for r in responses] == [201] * 60
        assert httpx.get(server.url + "/readyz").status_code == 200
        database = make_url(url).database
        with psycopg.connect(libpq_url(postgres.admin_url)) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'zcontacts'",
                (database,),
            ).fetchone()
        assert row is not None
        # Two workers, each at most pool_size + max_overflow = 4 connections.
        assert 1 <= row[0] <= 8
    finally:
        server.stop()
        postgres.release(url)


def test_one_rate_limit_budget_across_replicas(redis_url: str, tmp_path: Path) -> None:
    # Only Redis matters here: two processes on one SQLite file are replicas too.
    limit = {
        "ZCONTACTS_RATE_LIMIT_PER_MINUTE": "6",
        "ZCONTACTS_REDIS_URL": redis_url,
        "ZCONTACTS_REDIS_PREFIX": f"zcontacts-test-{uuid.uuid4().hex}",
    }
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    servers = [Server(database_url=url, workdir=tmp_path, env=limit) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        assert "rate limit:   6 requests a minute per organization (shared in Redis)" in servers[1].banner
        auth = headers(*servers[0].credentials())
        responses = [httpx.get(servers[i % 2].url + CONTACTS, headers=auth) for i in range(9)]
        assert [r.status_code for r in responses] == [200] * 6 + [429] * 3
        assert [int(r.headers["x-rate-limit-remaining"]) for r in responses] == [5, 4, 3, 2, 1, 0, 0, 0, 0]
        assert all(r.json()["code"] == 44 for r in responses[6:])
        assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in responses[6:])
        assert httpx.get(servers[1].url + "/healthz").status_code == 200
    finally:
        for server in servers:
            server.stop()
