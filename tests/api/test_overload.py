"""Overload is a 503 with Retry-After and a Zoho body, never a 500; and known routing corner cases."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, assert_error
from zcontacts.app import create_app
from zcontacts.config import Settings


@pytest.mark.backends("postgresql")
def test_pool_exhaustion_is_503_with_retry_after(database_url: str, tenant: Tenant) -> None:
    settings = Settings(
        database_url=database_url,
        token_cache_seconds=0,
        rate_limit_per_minute=0,
        auto_migrate=False,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.2,
    )
    app = create_app(settings)
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
