"""X-Request-Id and the JSON access log (logger zcontacts.access)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.helpers import CONTACTS, Tenant, make_contact
from zcontacts.app import create_app
from zcontacts.config import Settings
from zcontacts.logs import ACCESS_LOGGER, JsonFormatter, configure_logging
from zcontacts.storage.contacts import ContactsRepo


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access records captured so far, as the JSON lines the server writes."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]


def test_a_sane_client_request_id_is_echoed(client: Any, tenant: Tenant) -> None:
    response = client.get(CONTACTS, headers={**tenant.headers, "X-Request-Id": "job-42.retry_1"})
    assert response.headers["x-request-id"] == "job-42.retry_1"


@pytest.mark.parametrize("given", ["has space", "x" * 129, "semi;colon", "a/b", ""])
@pytest.mark.backends("sqlite")
def test_an_insane_request_id_is_replaced(client: Any, given: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": given})
    made = response.headers["x-request-id"]
    assert made != given
    assert len(made) == 32
    assert int(made, 16) >= 0


def test_every_response_gets_a_distinct_id_even_errors(client: Any, tenant: Tenant) -> None:
    ids = {
        client.get("/nowhere").headers["x-request-id"],
        client.get(f"{CONTACTS}/1", headers=tenant.headers).headers["x-request-id"],
        client.get(CONTACTS).headers["x-request-id"],  # 401
        client.get(CONTACTS, headers=tenant.headers).headers["x-request-id"],
    }
    assert len(ids) == 4


def test_one_json_line_per_request_without_secrets(
    client: Any, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    contact = make_contact(client, tenant, notes="secret-note-body")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.get(f"{CONTACTS}/{contact['contact_id']}", headers={**tenant.headers, "X-Request-Id": "r-1"})
        client.put(
            f"{CONTACTS}/{contact['contact_id']}", json={"notes": "another-secret"}, headers=tenant.headers
        )
        client.get(CONTACTS, headers={"Authorization": "Zoho-oauthtoken 1000.leaked"})
    lines = access_lines(caplog)
    assert len(lines) == 3
    first = lines[0]
    assert first["request_id"] == "r-1"
    assert first["method"] == "GET"
    assert first["route"] == "/expense/v1/contacts/{contact_id}"
    assert first["status"] == 200
    assert first["organization_id"] == tenant.organization_id
    assert first["level"] == "info"
    assert first["logger"] == ACCESS_LOGGER
    assert isinstance(first["duration_ms"], float)
    assert first["time"].endswith("Z")
    assert lines[2]["status"] == 401
    assert lines[2]["organization_id"] is None  # never trusted from an unverified request
    text = json.dumps(lines)
    for secret in (tenant.token, "1000.leaked", "secret-note-body", "another-secret", "Zoho-oauthtoken"):
        assert secret not in text


@pytest.mark.backends("sqlite")
def test_log_level_applies_to_the_access_log(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(
        database_url=database_url, log_level="warning", auto_migrate=False, rate_limit_per_minute=0
    )
    try:
        with TestClient(app=create_app(settings)) as quiet, caplog.at_level(logging.DEBUG, logger="root"):
            quiet.get("/healthz")
        assert not [r for r in caplog.records if r.name == ACCESS_LOGGER]
    finally:
        logging.getLogger("zcontacts").setLevel(logging.INFO)


def test_configure_logging_writes_json_lines_once(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("zcontacts")
    before = list(logger.handlers)
    try:
        configure_logging("info")
        configure_logging("info")
        assert len(logger.handlers) == len(before) + 1
        logging.getLogger(ACCESS_LOGGER).info("request", extra={"request_id": "abc", "status": 200})
        line = json.loads(capsys.readouterr().err.strip())
        assert line["request_id"] == "abc"
        assert line["status"] == 200
        assert line["message"] == "request"
    finally:
        logger.handlers[:] = before
        logger.propagate = True
        logger.setLevel(logging.INFO)


def test_an_unexpected_failure_is_logged_with_the_request_id(
    client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ContactsRepo, "get_versioned_doc", explode)  # what GET reads (doc and ETag)
    response = client.get(
        f"{CONTACTS}/46000000000000001", headers={**tenant.headers, "X-Request-Id": "req-500"}
    )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "zcontacts"]
    assert [getattr(r, "request_id", None) for r in errors] == ["req-500"]
    access = access_lines(caplog)
    assert [(line["request_id"], line["status"]) for line in access][-1] == ("req-500", 500)


def test_a_books_request_is_logged_under_its_own_path(
    client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The framework serves /books/v3 as its /expense/v1 twin (api/context.py); logs keep the client's path.
    def explode(*_args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ContactsRepo, "get_versioned_doc", explode)
    response = client.get(
        "/books/v3/contacts/46000000000000001",
        params={"organization_id": tenant.organization_id},
        headers={"Authorization": tenant.headers["Authorization"]},
    )
    assert response.status_code == 500
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "zcontacts"]
    assert [r.getMessage() for r in errors] == ["unhandled error on GET /books/v3/contacts/46000000000000001"]
    assert access_lines(caplog)[-1]["route"] == "/books/v3/contacts/{contact_id}"
