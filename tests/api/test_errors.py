"""Unknown routes, wrong methods and unexpected failures, all in the Zoho envelope."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import CONTACTS, Tenant, assert_error
from zcontacts.storage.contacts import ContactsRepo


@pytest.mark.parametrize(
    "path", ["/", "/expense/v1", "/expense/v1/contact", "/expense/v2/contacts", "/x/y/z"]
)
def test_unknown_route_is_404_code_5(client: Any, tenant: Tenant, path: str) -> None:
    assert_error(client.get(path, headers=tenant.headers), 404, 5, "Invalid URL Passed")


@pytest.mark.parametrize(("method", "path"), [("PATCH", CONTACTS), ("DELETE", CONTACTS), ("POST", f"{CONTACTS}/1"),
                                              ("PATCH", f"{CONTACTS}/1")])  # fmt: skip
def test_wrong_method_is_405(client: Any, tenant: Tenant, method: str, path: str) -> None:
    response = client.request(method, path, headers=tenant.headers)
    assert_error(response, 405, 37, method)
    assert "allow" in response.headers


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        (CONTACTS, "GET, OPTIONS, POST"),
        (f"{CONTACTS}/1", "DELETE, GET, OPTIONS, PUT"),
        ("/books/v3/contacts", "GET, OPTIONS, POST"),
        (f"{CONTACTS}/1/address", "GET, OPTIONS, POST"),
    ],
)
def test_options_names_every_method_of_the_path(client: Any, path: str, methods: str) -> None:
    """OPTIONS answers with every method the path takes, as a 405's Allow does."""
    response = client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == methods


def test_unexpected_failure_is_500_code_1000_without_details(
    client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_args: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(ContactsRepo, "get_versioned_doc", explode)
    response = client.get(f"{CONTACTS}/46000000000000001", headers=tenant.headers)
    assert response.json() == {"code": 1000, "message": "Internal error"}
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert "secret internals" in caplog.text  # logged for the operator


def test_failed_write_leaves_nothing_behind(
    client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit of work rolls back: a failure after the contact row is written leaves no trace."""

    def explode(*_args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ContactsRepo, "_write_children", explode)
    response = client.post(CONTACTS, json={"contact_name": "Half"}, headers=tenant.headers)
    assert response.status_code == 500
    monkeypatch.undo()
    assert client.get(CONTACTS, headers=tenant.headers).json()["customers"] == []
    assert client.post(CONTACTS, json={"contact_name": "Half"}, headers=tenant.headers).status_code == 201
