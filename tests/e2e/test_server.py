"""End to end: a real `zcontacts serve` process and the real CLI, as a new user runs them."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_metrics import sample
from tests.e2e.server import Server, headers, zcontacts
from tests.helpers import reference
from zcontacts.storage import migrate

pytestmark = pytest.mark.e2e
CONTACTS = "/expense/v1/contacts"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(database_url=f"sqlite:///{tmp_path / 'data' / 'zcontacts.db'}", workdir=tmp_path).start()
    yield running
    running.stop()


def test_first_start_prints_where_it_listens_and_a_working_token(server: Server) -> None:
    assert f"http://127.0.0.1:{server.port}/expense/v1/contacts" in server.banner
    organization_id, token = server.credentials()
    assert re.fullmatch(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}", token)
    assert "curl -H 'Authorization: Zoho-oauthtoken" in server.banner
    response = httpx.get(server.url + CONTACTS, headers=headers(organization_id, token))
    assert response.status_code == 200
    assert response.json()["customers"] == []


def test_head_is_get_without_the_body(server: Server) -> None:
    """HEAD answers as GET would, headers and all, with no body (RFC 9110), on the fast path, the framework
    path and the unauthenticated routes alike; over a real socket, so the connection stays usable after."""
    organization_id, token = server.credentials()
    auth = headers(organization_id, token)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        contact = client.post(CONTACTS, json={"contact_name": "Head Office"}, headers=auth).json()["contact"]
        for path, sent in [
            (f"{CONTACTS}/{contact['contact_id']}", auth),  # the fast path
            (f"{CONTACTS}/{contact['contact_id']}/address", auth),  # the framework
            (CONTACTS + "?company_name=none", auth),
            (f"{CONTACTS}/99999999999", auth),  # a 404
            ("/healthz", {}),
        ]:
            got = client.get(path, headers=sent)
            head = client.head(path, headers=sent)
            assert head.status_code == got.status_code, path
            assert head.content == b"", path
            assert head.headers["content-length"] == got.headers["content-length"], path
            assert head.headers.get("etag") == got.headers.get("etag"), path
        assert client.get(f"{CONTACTS}/{contact['contact_id']}", headers=auth).json()["contact"] == contact


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL])
def test_data_survives_a_restart(server: Server, stop_signal: int) -> None:
    organization_id, token = server.credentials()
    auth = headers(organization_id, token)
    created = httpx.post(server.url + CONTACTS, json=reference("create_request"), headers=auth)
    assert created.status_code == 201
    contact = created.json()["contact"]
    updated = httpx.put(
        f"{server.url}{CONTACTS}/{contact['contact_id']}", json={"notes": "kept"}, headers=auth
    )
    assert updated.status_code == 200
    server.stop(stop_signal)
    server.start()
    assert "organization id" not in server.banner  # no second default organization
    assert f"zcontacts tokens create --org {organization_id}" in server.banner
    again = httpx.get(f"{server.url}{CONTACTS}/{contact['contact_id']}", headers=auth)
    assert again.status_code == 200
    assert again.json()["contact"] == updated.json()["contact"]
    listed = httpx.get(server.url + CONTACTS, headers=auth).json()["customers"]
    assert [c["contact_id"] for c in listed] == [contact["contact_id"]]


def test_cli_orgs_and_tokens_against_a_running_server(server: Server) -> None:
    url = server.database_url
    created = zcontacts("orgs", "create", "--name", "Second Org", "--currency-code", "EUR",
                        "--time-zone", "Europe/Paris", database_url=url)  # fmt: skip
    organization_id = created.stdout.strip()
    assert re.fullmatch(r"\d+\n", created.stdout), created.stdout
    listing = zcontacts("orgs", "list", database_url=url).stdout
    assert organization_id in listing
    assert "Second Org" in listing
    assert "EUR" in listing

    reader = zcontacts("tokens", "create", "--org", organization_id, "--scope", "ZohoExpense.customer.READ",
                       database_url=url).stdout  # fmt: skip
    assert re.fullmatch(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}\n", reader)
    auth = headers(organization_id, reader.strip())
    assert httpx.get(server.url + CONTACTS, headers=auth).status_code == 200
    refused = httpx.post(server.url + CONTACTS, json={"contact_name": "X"}, headers=auth)
    assert (refused.status_code, refused.json()["code"]) == (401, 57)

    writer = zcontacts("tokens", "create", "--org", organization_id, database_url=url).stdout.strip()
    created_contact = httpx.post(
        server.url + CONTACTS, json={"contact_name": "X"}, headers=headers(organization_id, writer)
    )
    assert created_contact.status_code == 201
    assert created_contact.json()["contact"]["currency_code"] == "EUR"

    zcontacts("tokens", "revoke", reader.strip(), database_url=url)
    time.sleep(1.2)  # the server trusts a token lookup for at most a second
    after = httpx.get(server.url + CONTACTS, headers=auth)
    assert (after.status_code, after.json()["code"]) == (401, 57)


def test_cli_refusals(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'z.db'}"
    assert zcontacts("tokens", "create", "--org", "999", database_url=url, check=False).returncode == 2
    organization_id = zcontacts("orgs", "create", "--name", "A", database_url=url).stdout.strip()
    bad_scope = zcontacts("tokens", "create", "--org", organization_id, "--scope", "Everything", database_url=url,
                          check=False)  # fmt: skip
    assert bad_scope.returncode == 2
    assert "unknown scope" in bad_scope.stderr
    assert zcontacts("orgs", "create", "--name", "B", "--currency-code", "DOLLARS", database_url=url,
                     check=False).returncode == 2  # fmt: skip
    assert zcontacts("orgs", "create", "--name", "B", "--time-zone", "Mars/Base", database_url=url,
                     check=False).returncode == 2  # fmt: skip
    assert zcontacts("tokens", "revoke", "1000.nope", database_url=url, check=False).returncode == 2
    # The newest migration, whichever it is (a new migration must not break this test).
    assert zcontacts("db", "current", database_url=url).stdout.strip() == migrate.head_revision()


def test_token_expiry_from_the_cli(server: Server) -> None:
    organization_id, _ = server.credentials()
    token = zcontacts("tokens", "create", "--org", organization_id, "--expires-in", "1",
                      database_url=server.database_url).stdout.strip()  # fmt: skip
    time.sleep(2.1)
    response = httpx.get(server.url + CONTACTS, headers=headers(organization_id, token))
    assert (response.status_code, response.json()["code"]) == (401, 57)


def test_a_chunked_body_over_one_mebibyte_is_413_and_writes_nothing(server: Server) -> None:
    # No Content-Length: the limit must hold while the body streams in, not only when it is announced.
    organization_id, token = server.credentials()
    auth = {**headers(organization_id, token), "Content-Type": "application/json"}
    piece = b" " * 65_536

    def body() -> Iterator[bytes]:
        yield b'{"contact_name": "Chunked", "notes": "'
        for _ in range(20):  # 1.25 MiB in all
            yield piece
        yield b'"}'

    response = httpx.post(server.url + CONTACTS, content=body(), headers=auth, timeout=30)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json()["code"] != 0
    listed = httpx.get(server.url + CONTACTS, headers=headers(organization_id, token)).json()
    assert listed["customers"] == []


def test_the_server_freezes_its_start_up_heap(server: Server) -> None:
    """`serve` moves what start-up left out of the garbage collector's full collections (ZCONTACTS_GC_FREEZE):
    the served process, not the test's, says so in /metrics."""
    frozen = sample(httpx.get(server.url + "/metrics").text, "zcontacts_gc_frozen_objects")
    assert frozen is not None
    assert frozen > 10_000


def test_serve_bounds_a_request_head(server: Server) -> None:
    """`serve` runs the bounded HTTP protocol (zcontacts/http_protocol.py): a 1 MiB header is a 431 in the
    Zoho envelope, not a head buffered without limit."""
    organization_id, token = server.credentials()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.get(CONTACTS, headers={**headers(organization_id, token), "x-big": "a" * 1_048_576})
        assert response.status_code == 431
        assert response.json()["code"] == 2
        assert client.get(CONTACTS, headers=headers(organization_id, token)).status_code == 200
