"""Overload is a 503 with Retry-After and a Zoho body, never a 500; and known routing corner cases."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from tests.backends import POSTGRES_URL, libpq_url
from tests.helpers import CONTACTS, Tenant, assert_error, make_contact
from zcontacts.app import create_app
from zcontacts.config import Settings


def _one_connection_app(database_url: str, pool_timeout: float) -> Litestar:
    """An app whose pool holds one connection (token lookups read the database on every request)."""
    settings = Settings(
        database_url=database_url,
        token_cache_seconds=0,
        rate_limit_per_minute=0,
        auto_migrate=False,
        pool_size=1,
        max_overflow=0,
        pool_timeout=pool_timeout,
    )
    return create_app(settings)


@pytest.mark.backends("postgresql")
def test_a_request_waiting_past_the_pool_timeout_is_503(database_url: str, tenant: Tenant) -> None:
    # The real path: the one connection is in use by a request (an update waiting for a row lock that psql
    # holds), so the next request waits for it on the event loop, for pool_timeout and no longer.
    app = _one_connection_app(database_url, pool_timeout=1.0)
    with TestClient(app=app) as client, psycopg.connect(libpq_url(database_url)) as holder:
        contact = make_contact(client, tenant)
        url = f"{CONTACTS}/{contact['contact_id']}"
        holder.execute(
            "SELECT 1 FROM contacts WHERE contact_id = %s FOR UPDATE", [int(contact["contact_id"])]
        )
        updated: list[Any] = []
        update = threading.Thread(
            target=lambda: updated.append(client.put(url, json={"notes": "later"}, headers=tenant.headers))
        )
        update.start()
        _wait_for_a_lock_wait(holder)
        # Should requests queue without a limit, the lock goes after 10 s: the test fails instead of hanging.
        watchdog = threading.Timer(10.0, holder.commit)
        watchdog.start()
        try:
            for path in (url, CONTACTS):
                started = time.monotonic()
                response = client.get(path, headers=tenant.headers)
                assert time.monotonic() - started < 1.8, path  # one wait, not one per path tried
                assert_error(response, 503, 1000, "the server is busy")
                assert response.headers["retry-after"] == "1"
            # Busy is not unready: the probe asks on a connection of its own, without waiting for the pool.
            started = time.monotonic()
            ready = client.get("/readyz")
            assert time.monotonic() - started < 0.9
            assert ready.status_code == 200
            assert ready.json() == {"code": 0, "message": "ready"}
            # ... and that connection says so when the database refuses new ones.
            name = make_url(database_url).database
            with psycopg.connect(libpq_url(POSTGRES_URL), autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                try:
                    assert_error(client.get("/readyz"), 503, 1000, "not reachable")
                finally:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        finally:
            watchdog.cancel()
            holder.commit()
            update.join(timeout=10)
        assert updated[0].status_code == 200
        # Refused requests hand back their place: the one connection serves request after request again.
        for _ in range(3):
            assert client.get(url, headers=tenant.headers).json()["contact"]["notes"] == "later"


def _wait_for_a_lock_wait(observer: psycopg.Connection[Any]) -> None:
    """Until a zcontacts session waits for a lock (the update has the pool's connection)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting = observer.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'zcontacts' AND wait_event_type = 'Lock'"
        ).fetchone()
        if waiting and waiting[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the update never waited for the row lock")


@pytest.mark.backends("postgresql")
def test_pool_exhaustion_is_503_with_retry_after(database_url: str, tenant: Tenant) -> None:
    # A connection taken outside the request path (as a CLI in process would): the pool's own timeout.
    app = _one_connection_app(database_url, pool_timeout=0.2)
    with TestClient(app=app) as client:
        assert client.get(CONTACTS, headers=tenant.headers).status_code == 200
        held = app.state.database.engine.connect()  # the pool's only connection
        try:
            response = client.get(CONTACTS, headers=tenant.headers)
            assert_error(response, 503, 1000, "try again")
            assert response.headers["retry-after"] == "1"
            refused = client.post(CONTACTS, json={"contact_name": "Busy"}, headers=tenant.headers)
            assert_error(refused, 503, 1000)
        finally:
            held.close()
        # Once a connection is free again, requests are served (and the refused create wrote nothing).
        assert client.get(CONTACTS, headers=tenant.headers).json()["customers"] == []


def test_contactpersons_without_an_id_is_404_not_405(client: Any, tenant: Tenant) -> None:
    for prefix in ("/expense/v1", "/books/v3"):
        for method in ("GET", "PUT", "DELETE"):
            response = client.request(method, f"{prefix}/contacts/contactpersons", headers=tenant.headers)
            assert_error(response, 404, 1002)


def test_contactpersons_without_an_id_still_checks_the_token(client: Any, tenant: Tenant) -> None:
    headers = {"X-com-zoho-expense-organizationid": tenant.organization_id}
    assert_error(client.get(f"{CONTACTS}/contactpersons", headers=headers), 401, 57)


@pytest.mark.backends("postgresql")
def test_a_database_refusing_connections_is_503_with_retry_after(
    database_url: str, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    app = _one_connection_app(database_url, pool_timeout=1.0)
    name = make_url(database_url).database
    with TestClient(app=app) as client, psycopg.connect(libpq_url(POSTGRES_URL), autocommit=True) as admin:
        contact = make_contact(client, tenant)
        # The server goes away for this database: its sessions end and new ones are refused.
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        try:
            for response in (
                client.get(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers),
                client.get(CONTACTS, headers=tenant.headers),
                client.post(CONTACTS, json={"contact_name": "Later"}, headers=tenant.headers),
            ):
                assert_error(response, 503, 1000, "the server is busy")
                assert response.headers["retry-after"] == "1"
            assert_error(client.get("/readyz"), 503, 1000, "not reachable")
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
        # Back as soon as it accepts connections again.
        assert (
            client.get(CONTACTS, headers=tenant.headers).json()["customers"][0]["contact_name"]
            == "Kenny Digital"
        )
