"""The web console over the ASGI app: sessions, CSRF, scopes, escaping and every action, on each backend."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers import CONTACTS, Tenant, make_contact, token_for
from zcontacts.domain.tokens import token_hash
from zcontacts.domain.zoho_time import now_ms
from zcontacts.storage.database import Database
from zcontacts.storage.tokens import TokensRepo

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def signin_form(client: Any, **fields: str) -> dict[str, str]:
    """Open the sign-in page; its form's fields (the form token) plus `fields`."""
    match = CSRF.search(client.get("/console/signin").text)
    assert match
    return {"csrf": match.group(1), **fields}


def sign_in(client: Any, tenant: Tenant) -> str:
    """Sign in and return the page's form token."""
    response = client.post(
        "/console/signin",
        data=signin_form(client, token=tenant.token, organization_id=tenant.organization_id),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/contacts"
    page = client.get("/console/contacts")
    assert page.status_code == 200
    match = CSRF.search(page.text)
    assert match
    return match.group(1)


def test_signed_out_pages_lead_to_the_sign_in_form(client: Any) -> None:
    response = client.get("/console/contacts", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/signin"
    assert "Sign in" in client.get("/console/signin").text


def test_a_bad_token_is_refused_with_zohos_message(client: Any, tenant: Tenant) -> None:
    response = client.post(
        "/console/signin", data=signin_form(client, token="1000.nope", organization_id=tenant.organization_id)
    )
    assert response.status_code == 401
    assert "You are not authorized to perform this operation" in response.text
    assert not [c for c in response.headers.get_list("set-cookie") if c.startswith("zcontacts_console=")]
    other = client.post(
        "/console/signin", data=signin_form(client, token=tenant.token, organization_id="999")
    )
    assert other.status_code == 400
    assert "not associated" in other.text


def test_the_session_cookie_is_http_only_and_same_site_strict(client: Any, tenant: Tenant) -> None:
    response = client.post(
        "/console/signin",
        data=signin_form(client, token=tenant.token, organization_id=tenant.organization_id),
        follow_redirects=False,
    )
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("zcontacts_console=")
    ).lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    assert tenant.token not in str(response.headers)  # encoded, and never in a page
    assert tenant.token not in client.get("/console/contacts").text
    assert "secure" not in cookie  # plain http, and no TLS proxy declared


def test_secure_cookies_behind_a_tls_proxy(database_url: str, tenant: Tenant) -> None:
    """Behind a proxy that terminates TLS, `serve` sees plain http: ZCONTACTS_SECURE_COOKIES marks the console's
    cookies Secure anyway, so a browser never sends the token over plain http."""
    from litestar.testing import TestClient

    from zcontacts.app import create_app
    from zcontacts.config import Settings

    app = create_app(Settings(database_url=database_url, secure_cookies=True, token_cache_seconds=0))
    with TestClient(app=app) as proxied:
        page = proxied.get("/console/signin")
        (signin_cookie,) = page.headers.get_list("set-cookie")
        assert "secure" in signin_cookie.lower()
        csrf = CSRF.search(page.text)
        assert csrf is not None
        # The test client, on http, would not send a Secure cookie back: a browser on https would.
        response = proxied.post(
            "/console/signin",
            data={"csrf": csrf.group(1), "token": tenant.token, "organization_id": tenant.organization_id},
            headers={"cookie": signin_cookie.split(";", 1)[0]},
            follow_redirects=False,
        )
        session = [c for c in response.headers.get_list("set-cookie") if c.startswith("zcontacts_console=")]
        assert len(session) == 1, response.text[:300]
        assert "secure" in session[0].lower()


def test_list_searches_filters_and_pages(client: Any, tenant: Tenant) -> None:
    for i in range(27):
        make_contact(
            client, tenant, contact_name=f"Zeta {i:02}", company_name="Zeta Ltd" if i % 2 else "Other"
        )
    inactive = make_contact(client, tenant, contact_name="Quiet One")
    client.post(f"{CONTACTS}/{inactive['contact_id']}/inactive", headers=tenant.headers)
    sign_in(client, tenant)
    first = client.get("/console/contacts").text
    assert "Quiet One" in first
    assert "Zeta 00" in first
    assert "Zeta 24" not in first  # 25 a page, sorted by name
    assert 'rel="next"' in first
    second = client.get("/console/contacts", params={"page": "2"}).text
    assert "Zeta 24" in second
    assert 'rel="prev"' in second
    assert "Zeta 00" not in second
    found = client.get("/console/contacts", params={"search_text": "quiet"}).text
    assert "Quiet One" in found
    assert "Zeta" not in found
    inactive_only = client.get("/console/contacts", params={"status": "inactive"}).text
    assert "Quiet One" in inactive_only
    assert "Zeta 00" not in inactive_only
    company = client.get("/console/contacts", params={"company": "zeta ltd"}).text
    assert "Zeta 01" in company
    assert "Zeta 00" not in company


def test_create_edit_status_and_delete_through_the_forms(client: Any, tenant: Tenant) -> None:
    csrf = sign_in(client, tenant)
    created = client.post(
        "/console/contacts/new",
        data={
            "csrf": csrf,
            "contact_name": "Kenny Digital",
            "company_name": "Kenny Digital",
            "contact_salutation": "Mr.",
            "first_name": "Ken",
            "email": "ken@example.com",
            "billing_address.city": "San Francisco",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    contact_id = created.headers["location"].split("/")[3].split("?")[0]
    contact = client.get(f"{CONTACTS}/{contact_id}", headers=tenant.headers).json()["contact"]
    assert contact["email"] == "ken@example.com"
    assert contact["contact_salutation"] == "Mr"
    assert contact["billing_address"]["city"] == "San Francisco"

    edit_page = client.get(f"/console/contacts/{contact_id}/edit").text
    assert 'value="ken@example.com"' in edit_page
    saved = client.post(
        f"/console/contacts/{contact_id}/edit",
        data={"csrf": csrf, "contact_name": "Kenny Digital", "website": "kenny.example", "first_name": "Ken"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    contact = client.get(f"{CONTACTS}/{contact_id}", headers=tenant.headers).json()["contact"]
    assert contact["website"] == "kenny.example"
    assert contact["email"] == ""  # emptied in the form, so cleared
    assert contact["billing_address"]["city"] == ""

    client.post(f"/console/contacts/{contact_id}/status", data={"csrf": csrf, "status": "inactive"})
    contact = client.get(f"{CONTACTS}/{contact_id}", headers=tenant.headers).json()["contact"]
    assert contact["status"] == "inactive"

    view = client.get(f"/console/contacts/{contact_id}").text
    assert "Customer created" in view
    assert "Customer updated" in view
    assert "Marked as inactive" in view
    assert "website" in view

    assert "Delete Kenny Digital?" in client.get(f"/console/contacts/{contact_id}/delete").text
    deleted = client.post(
        f"/console/contacts/{contact_id}/delete", data={"csrf": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert client.get(f"{CONTACTS}/{contact_id}", headers=tenant.headers).status_code == 404
    missing = client.get(f"/console/contacts/{contact_id}")
    assert missing.status_code == 404
    assert "Customer does not exist." in missing.text


def test_invalid_input_shows_the_form_again_with_the_message(client: Any, tenant: Tenant) -> None:
    csrf = sign_in(client, tenant)
    make_contact(client, tenant, contact_name="Taken")
    response = client.post(
        "/console/contacts/new", data={"csrf": csrf, "contact_name": "taken", "website": "kept.example"}
    )
    assert response.status_code == 400
    assert "already exists" in response.text
    assert 'value="kept.example"' in response.text
    bad_email = client.post("/console/contacts/new", data={"csrf": csrf, "contact_name": "New", "email": "x"})
    assert bad_email.status_code == 400
    assert "not a valid email address" in bad_email.text
    too_long = client.post("/console/contacts/new", data={"csrf": csrf, "contact_name": "n" * 201})
    assert too_long.status_code == 400
    assert "at most 200 characters" in too_long.text
    names = [c["contact_name"] for c in client.get(CONTACTS, headers=tenant.headers).json()["customers"]]
    assert names == ["Taken"]


def test_a_post_without_the_form_token_changes_nothing(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant)
    sign_in(client, tenant)
    for data in ({}, {"csrf": "forged"}):
        response = client.post(f"/console/contacts/{contact['contact_id']}/delete", data=data)
        assert response.status_code == 401
        assert "did not come from this console" in response.text
        created = client.post("/console/contacts/new", data={**data, "contact_name": "Forged"})
        assert created.status_code == 401
    assert client.get(f"{CONTACTS}/{contact['contact_id']}", headers=tenant.headers).status_code == 200
    assert len(client.get(CONTACTS, headers=tenant.headers).json()["customers"]) == 1


def test_a_read_only_token_can_look_but_not_change(client: Any, tenant: Tenant, database: Database) -> None:
    contact = make_contact(client, tenant, website="before.example")
    reader = token_for(database, tenant, ["ZohoExpense.customer.READ"])
    csrf = sign_in(client, reader)
    contact_id = contact["contact_id"]
    assert "Kenny Digital" in client.get(f"/console/contacts/{contact_id}").text
    for response in (
        client.get(f"/console/contacts/{contact_id}/edit"),
        client.get("/console/contacts/new"),
        client.post(f"/console/contacts/{contact_id}/edit", data={"csrf": csrf, "contact_name": "X"}),
        client.post(f"/console/contacts/{contact_id}/status", data={"csrf": csrf, "status": "inactive"}),
        client.post(f"/console/contacts/{contact_id}/delete", data={"csrf": csrf}),
        client.post("/console/contacts/new", data={"csrf": csrf, "contact_name": "New"}),
    ):
        assert response.status_code == 401, response.text
        assert "You are not authorized to perform this operation" in response.text
    after = client.get(f"{CONTACTS}/{contact_id}", headers=tenant.headers).json()["contact"]
    assert after["website"] == "before.example"
    assert after["status"] == "active"
    assert len(client.get(CONTACTS, headers=tenant.headers).json()["customers"]) == 1


def test_everything_shown_is_escaped(client: Any, tenant: Tenant) -> None:
    contact = make_contact(client, tenant, contact_name="<script>alert(1)</script>", notes='"><img src=x>')
    sign_in(client, tenant)
    for path in ("/console/contacts", f"/console/contacts/{contact['contact_id']}"):
        html = client.get(path).text
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<img src=x>" not in html
    query = client.get("/console/contacts", params={"search_text": '"><b>x</b>'}).text
    assert "<b>x</b>" not in query


def test_bad_ids_and_parameters_are_friendly_refusals(client: Any, tenant: Tenant) -> None:
    sign_in(client, tenant)
    for path, status in (
        ("/console/contacts/abc", 404),
        ("/console/contacts/99999999999", 404),
        ("/console/nowhere", 404),  # an unknown console address: the console's page, not the API's JSON
        ("/console/contacts/12/nowhere/else", 404),
        ("/console/contacts?page=0", 400),
        ("/console/contacts?page=x", 400),
        ("/console/contacts?search_text=" + "a" * 300, 400),
    ):
        response = client.get(path)
        assert response.status_code == status, (path, response.text)
        assert "That did not work" in response.text


def test_sign_out_forgets_the_session(client: Any, tenant: Tenant) -> None:
    csrf = sign_in(client, tenant)
    response = client.post("/console/signout", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert "You have signed out." in client.get(response.headers["location"]).text
    assert client.get("/console/contacts", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_the_session(client: Any, tenant: Tenant, database: Database) -> None:
    sign_in(client, tenant)
    hashed = token_hash(tenant.token)
    assert database.run(lambda c: TokensRepo(c).revoke(hashed, now_ms()), write=True)
    response = client.get("/console/contacts")
    assert response.status_code == 401
    assert "not authorized" in response.text


def test_sign_in_needs_the_form_the_console_served(client: Any, tenant: Tenant) -> None:
    fields = {"token": tenant.token, "organization_id": tenant.organization_id}
    for data in (fields, {**fields, "csrf": "forged"}):
        response = client.post("/console/signin", data=data, follow_redirects=False)
        assert response.status_code == 401
        assert "did not come from this console" in response.text
    client.cookies.clear()
    form = signin_form(client, **fields)
    client.cookies.clear()  # a cross-site page cannot send the sign-in cookie along
    response = client.post("/console/signin", data=form, follow_redirects=False)
    assert response.status_code == 401
    assert client.get("/console/contacts", follow_redirects=False).status_code == 303
