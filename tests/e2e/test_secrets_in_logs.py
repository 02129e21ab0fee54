"""A real server's own output (uvicorn's access log at debug level included) never shows a secret, though Zoho
clients send client secrets, grant codes and refresh tokens in the query string."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, headers, zcontacts

pytestmark = pytest.mark.e2e


def test_server_logs_show_no_secret(tmp_path: Path) -> None:
    server = Server(database_url=f"sqlite:///{tmp_path / 'z.db'}", workdir=tmp_path).start(
        "--log-level", "debug"
    )
    try:
        organization_id, token = server.credentials()
        made = json.loads(
            zcontacts("clients", "create", "--org", organization_id, database_url=server.database_url).stdout
        )
        with httpx.Client(base_url=server.url, timeout=10) as client:
            exchanged = client.post("/oauth/v2/token", params={"grant_type": "authorization_code", "client_id": made["client_id"],
                                    "client_secret": made["client_secret"], "code": made["grant_code"]})  # fmt: skip
            assert exchanged.status_code == 200, exchanged.text
            tokens = exchanged.json()
            refreshed = client.post("/oauth/v2/token", params={"grant_type": "refresh_token", "client_id": made["client_id"],
                                    "client_secret": made["client_secret"], "refresh_token": tokens["refresh_token"]})  # fmt: skip
            assert refreshed.status_code == 200
            assert (
                client.get("/expense/v1/contacts", headers=headers(organization_id, token)).status_code == 200
            )
            # The last digit changed (one token in 16 ends in "0": replacing it with "0" changed nothing).
            bad = headers(organization_id, token[:-1] + ("1" if token.endswith("0") else "0"))
            assert client.get("/expense/v1/contacts", headers=bad).status_code == 401
            assert (
                client.post("/oauth/v2/token/revoke", params={"token": tokens["refresh_token"]}).status_code
                == 200
            )
    finally:
        server.stop()
    logged = "".join(server.output)
    assert "/oauth/v2/token" in logged  # the access log is on, and redacted
    for secret in (made["client_secret"], made["grant_code"], tokens["refresh_token"], tokens["access_token"],
                   refreshed.json()["access_token"], token):  # fmt: skip
        assert secret not in logged
