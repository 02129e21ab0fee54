"""GET /healthz (the process answers) and GET /readyz (the database answers, its schema at this code's or
past it)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from tests.backends import PostgresDatabases
from tests.helpers import assert_error
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.storage import migrate
from zcontacts.storage.database import Database


def test_healthz_needs_no_token(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.text == '{"code":0,"message":"ok"}'
    assert response.headers["content-type"].startswith("application/json")


def test_readyz_when_the_database_answers_at_head(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"code": 0, "message": "ready"}


def test_probes_are_not_part_of_the_api_document(client: Any) -> None:
    paths = client.get("/docs/openapi.json").json()["paths"]
    assert not {"/healthz", "/readyz"} & set(paths)


def test_probes_answer_only_get(client: Any) -> None:
    assert_error(client.post("/healthz"), 405, 37)


@pytest.mark.parametrize("target", ["base", "-1"])
def test_readyz_is_503_while_the_schema_is_behind(database_url: str, target: str) -> None:
    database = Database.from_url(database_url)
    migrate.downgrade(database.engine, target)
    behind = migrate.current_revision(database.engine)
    database.dispose()
    app = create_app(Settings(database_url=database_url, auto_migrate=False, rate_limit_per_minute=0))
    with TestClient(app=app) as client:
        assert_error(
            client.get("/readyz"), 503, 1000, f"revision {behind or 'none'},", "zcontacts db upgrade"
        )
        assert client.get("/healthz").status_code == 200
        if target != "base":
            return  # only the newest revision's table is missing: the calls below do not need it
        # With no tables at all, the API (fast path and framework's) is a 503 to retry, not a 500 with a trace.
        auth = {"Authorization": "Zoho-oauthtoken 1000.x", "X-com-zoho-expense-organizationid": "10234695"}
        for response in (
            client.get("/expense/v1/contacts", headers=auth),
            client.get(
                "/expense/v1/contacts",
                params={"organization_id": "10234695"},
                headers={"Authorization": "Zoho-oauthtoken 1000.x"},
            ),
            client.post("/oauth/v2/token", params={"grant_type": "refresh_token", "refresh_token": "r"}),
        ):
            assert_error(response, 503, 1000, "zcontacts db upgrade")
            assert response.headers["retry-after"] == "5"


def test_readyz_stays_ready_when_a_newer_release_migrated_the_database(
    database_url: str, database: Database
) -> None:
    # A rolling upgrade: `db upgrade` for the next release ran while this replica serves. Migrations are
    # additive (docs/SCALING.md), so it keeps serving until it is replaced; a 503 would pull every old replica
    # before a new one is ready.
    app = create_app(Settings(database_url=database_url, auto_migrate=False, rate_limit_per_minute=0))
    with TestClient(app=app) as client:
        database.run(
            lambda c: c.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'")),
            write=True,
        )
        response = client.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["code"] == 0
        assert body["message"].startswith("ready")
        assert "ahead of this server (at revision 9999_from_the_future" in body["message"]
        assert "db upgrade" not in body["message"]


def test_readyz_is_503_when_the_database_goes_away(
    request: pytest.FixtureRequest, database_url: str, database: Database
) -> None:
    app = create_app(Settings(database_url=database_url, rate_limit_per_minute=0))
    with TestClient(app=app) as client:
        assert client.get("/readyz").status_code == 200
        if database.inline:
            # SQLite: the file is replaced by an empty one, as when a volume is lost.
            path = database.engine.url.database or ""
            app.state.database.dispose()
            with open(path, "wb"):
                pass
            assert_error(client.get("/readyz"), 503, 1000, "revision none")
        else:
            postgres: PostgresDatabases = request.getfixturevalue("postgres")
            database.dispose()
            postgres.drop_now(database_url)
            assert_error(client.get("/readyz"), 503, 1000, "not reachable")
        assert client.get("/healthz").status_code == 200


def test_a_table_missing_under_the_fast_path_is_a_503(client: Any, tenant: Any, database: Database) -> None:
    """A schema that lacks a table a hot route needs (here the history every write appends to): the fast path
    answers 503 to retry, as the framework's path does, not a 500."""
    from tests.helpers import CONTACTS, make_contact

    make_contact(client, tenant)  # the token is looked up and cached: the request stays on the fast path
    database.run(lambda c: c.execute(text("DROP TABLE contact_history")), write=True)
    response = client.post(CONTACTS, json={"contact_name": "After"}, headers=tenant.headers)
    assert_error(response, 503, 1000, "zcontacts db upgrade")
    assert response.headers["retry-after"] == "5"
