"""Every operation of the API as a `Call`, written once for both clients. Paths are relative to the flavour's
prefix (/expense/v1 or /books/v3); OAuth calls are relative to the accounts server."""

from __future__ import annotations

from typing import Any

import msgspec

from zcontacts.client._core import (
    LIST_KEYS,
    PREFIXES,
    Body,
    Call,
    Flavour,
    OAuthCredentials,
    converter,
    encode_body,
    nothing,
)
from zcontacts.client.models import (
    AddressDetail,
    CommentPage,
    Contact,
    ContactPage,
    ContactPerson,
    ContactPersonPage,
    ContactSummary,
    PageContext,
    TokenGrant,
)


class Routes:
    """Calls of one API flavour."""

    def __init__(self, flavour: Flavour) -> None:
        self.prefix = PREFIXES[flavour]
        self.list_key = LIST_KEYS[flavour]

    # ---- the five Customers operations -----------------------------------------------------------------

    def create_contact(self, body: Body, idempotency_key: str | None) -> Call[Contact]:
        return Call(
            "POST", "/contacts", converter(Contact, "contact"), body=encode_body(body),
            idempotency_key=idempotency_key,
        )  # fmt: skip

    def list_contacts(self, page: int, per_page: int, filters: dict[str, Any]) -> Call[ContactPage]:
        key = self.list_key

        def decode(payload: dict[str, Any]) -> ContactPage:
            return ContactPage(
                contacts=msgspec.convert(payload[key], list[ContactSummary], strict=False),
                page_context=msgspec.convert(payload["page_context"], PageContext, strict=False),
            )

        params = {"page": page, "per_page": per_page, **{k: v for k, v in filters.items() if v is not None}}
        return Call("GET", "/contacts", decode, params=params)

    def get_contact(self, contact_id: str) -> Call[Contact]:
        return Call("GET", f"/contacts/{contact_id}", converter(Contact, "contact"))

    def update_contact(self, contact_id: str, body: Body) -> Call[Contact]:
        return Call("PUT", f"/contacts/{contact_id}", converter(Contact, "contact"), body=encode_body(body))

    def delete_contact(self, contact_id: str) -> Call[None]:
        return Call("DELETE", f"/contacts/{contact_id}", nothing)

    # ---- status and history ----------------------------------------------------------------------------

    def set_status(self, contact_id: str, status: str) -> Call[None]:
        # Marking twice leaves the same state: safe to retry like PUT.
        return Call("POST", f"/contacts/{contact_id}/{status}", nothing, repeatable=True)

    def list_comments(self, contact_id: str, page: int, per_page: int) -> Call[CommentPage]:
        return Call(
            "GET", f"/contacts/{contact_id}/comments", _whole(CommentPage),
            params={"page": page, "per_page": per_page},
        )  # fmt: skip

    # ---- contact persons -------------------------------------------------------------------------------

    def list_contact_persons(self, contact_id: str, page: int, per_page: int) -> Call[ContactPersonPage]:
        return Call(
            "GET", f"/contacts/{contact_id}/contactpersons", _whole(ContactPersonPage),
            params={"page": page, "per_page": per_page},
        )  # fmt: skip

    def get_contact_person(self, contact_id: str, contact_person_id: str) -> Call[ContactPerson]:
        return Call(
            "GET", f"/contacts/{contact_id}/contactpersons/{contact_person_id}",
            converter(ContactPerson, "contact_person"),
        )  # fmt: skip

    def create_contact_person(self, body: Body, idempotency_key: str | None) -> Call[ContactPerson]:
        return Call(
            "POST", "/contacts/contactpersons", converter(ContactPerson, "contact_person"),
            body=encode_body(body), idempotency_key=idempotency_key,
        )  # fmt: skip

    def update_contact_person(self, contact_person_id: str, body: Body) -> Call[ContactPerson]:
        return Call(
            "PUT", f"/contacts/contactpersons/{contact_person_id}",
            converter(ContactPerson, "contact_person"), body=encode_body(body),
        )  # fmt: skip

    def delete_contact_person(self, contact_person_id: str) -> Call[None]:
        return Call("DELETE", f"/contacts/contactpersons/{contact_person_id}", nothing)

    def mark_primary_contact_person(self, contact_person_id: str) -> Call[None]:
        return Call("POST", f"/contacts/contactpersons/{contact_person_id}/primary", nothing, repeatable=True)

    # ---- addresses -------------------------------------------------------------------------------------

    def list_addresses(self, contact_id: str) -> Call[list[AddressDetail]]:
        return Call("GET", f"/contacts/{contact_id}/address", converter(list[AddressDetail], "addresses"))

    def create_address(self, contact_id: str, body: Body, idempotency_key: str | None) -> Call[AddressDetail]:
        return Call(
            "POST", f"/contacts/{contact_id}/address", converter(AddressDetail, "address_info"),
            body=encode_body(body), idempotency_key=idempotency_key,
        )  # fmt: skip

    def update_address(self, contact_id: str, address_id: str, body: Body) -> Call[AddressDetail]:
        return Call(
            "PUT", f"/contacts/{contact_id}/address/{address_id}", converter(AddressDetail, "address_info"),
            body=encode_body(body),
        )  # fmt: skip

    def delete_address(self, contact_id: str, address_id: str) -> Call[None]:
        return Call("DELETE", f"/contacts/{contact_id}/address/{address_id}", nothing)


# ---- OAuth (Zoho Accounts) -------------------------------------------------------------------------------


def exchange_code(client_id: str, client_secret: str, code: str, redirect_uri: str) -> Call[TokenGrant]:
    """grant_type=authorization_code: a one-time grant code for an access and a refresh token."""
    params = {
        "grant_type": "authorization_code", "client_id": client_id, "client_secret": client_secret,
        "code": code, "redirect_uri": redirect_uri,
    }  # fmt: skip
    return Call("POST", "/oauth/v2/token", _whole(TokenGrant), params=params, accounts=True)


def refresh(credentials: OAuthCredentials) -> Call[TokenGrant]:
    """grant_type=refresh_token: a fresh access token. Retried like an idempotent call (it only mints)."""
    params = {
        "grant_type": "refresh_token", "client_id": credentials.client_id,
        "client_secret": credentials.client_secret, "refresh_token": credentials.refresh_token,
    }  # fmt: skip
    return Call("POST", "/oauth/v2/token", _whole(TokenGrant), params=params, accounts=True, repeatable=True)


def revoke(token: str) -> Call[None]:
    """Revoke a refresh token (and its access tokens) or an access token."""
    return Call("POST", "/oauth/v2/token/revoke", nothing, params={"token": token}, accounts=True)


def _whole(kind: type[Any]) -> Any:
    def decode(payload: dict[str, Any]) -> Any:
        return msgspec.convert(payload, kind, strict=False)

    return decode
