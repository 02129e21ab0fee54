"""`zcontacts serve --fixtures FILE` (or ZCONTACTS_FIXTURES) starts with the same customers every time."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, headers

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]
CONTACTS = "/expense/v1/contacts"
FIXTURES = "contact_name,company_name,email,first_name,billing_city\nAcme,Acme Inc,ann@acme.io,Ann,Pune\nGlobex,Globex,,,Leeds\n"


def listed(server: Server, organization_id: str, token: str) -> list[dict[str, str]]:
    response = httpx.get(server.url + CONTACTS, headers=headers(organization_id, token), timeout=30)
    assert response.status_code == 200, response.text
    customers: list[dict[str, str]] = response.json()["customers"]
    return customers


def test_fixtures_load_on_start_and_a_restart_does_not_duplicate_them(tmp_path: Path) -> None:
    fixtures = tmp_path / "customers.csv"
    fixtures.write_text(FIXTURES)
    server = Server(database_url=f"sqlite:///{tmp_path / 'zcontacts.db'}", workdir=tmp_path)
    try:
        server.start("--fixtures", str(fixtures))
        assert "2 created" in server.banner
        organization_id, token = server.credentials()
        first = listed(server, organization_id, token)
        assert [(c["contact_name"], c["email"]) for c in first] == [("Acme", "ann@acme.io"), ("Globex", "")]
        server.stop()
        server.env["ZCONTACTS_FIXTURES"] = str(fixtures)  # the variable works as the flag does
        server.start()
        assert "0 created, 0 updated, 2 unchanged" in server.banner
        assert listed(server, organization_id, token) == first
    finally:
        server.stop()
        gc.collect()  # late httpx sockets are collected here, under this module's warning filter


def test_a_bad_fixtures_file_stops_the_server_from_starting(tmp_path: Path) -> None:
    fixtures = tmp_path / "customers.csv"
    fixtures.write_text("contact_name,email\nGood,good@example.org\nBad,not-an-address\n")
    server = Server(database_url=f"sqlite:///{tmp_path / 'zcontacts.db'}", workdir=tmp_path)
    with pytest.raises(RuntimeError, match=r"row 3, email"):
        server.start("--fixtures", str(fixtures))
    server.stop()
