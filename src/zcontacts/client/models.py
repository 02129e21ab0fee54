"""Typed models of the client: the server's own msgspec Structs (zcontacts.domain.schemas), plus the page and
token shapes the client returns."""

from __future__ import annotations

from msgspec import Struct

from zcontacts.domain.schemas import (
    AddressDetail,
    AddressIn,
    Contact,
    ContactCreate,
    ContactPerson,
    ContactPersonCreate,
    ContactPersonIn,
    ContactSummary,
    ContactUpdate,
    CustomFieldIn,
    HistoryEntry,
    ListPage,
    PageContext,
)

__all__ = [
    "AddressDetail",
    "AddressIn",
    "CommentPage",
    "Contact",
    "ContactCreate",
    "ContactPage",
    "ContactPerson",
    "ContactPersonCreate",
    "ContactPersonIn",
    "ContactPersonPage",
    "ContactSummary",
    "ContactUpdate",
    "CustomFieldIn",
    "HistoryEntry",
    "ListPage",
    "PageContext",
    "TokenGrant",
]


class ContactPage(Struct):
    """One page of the customer list."""

    contacts: list[ContactSummary]
    page_context: PageContext


class ContactPersonPage(Struct):
    """One page of a contact's persons."""

    contact_persons: list[ContactPerson]
    page_context: ListPage


class CommentPage(Struct):
    """One page of a contact's history, newest first."""

    contact_comments: list[HistoryEntry]
    page_context: ListPage


class TokenGrant(Struct):
    """What /oauth/v2/token answers; `refresh_token` only for grant_type=authorization_code."""

    access_token: str
    expires_in: int = 3600
    token_type: str = "Bearer"
    api_domain: str = ""
    refresh_token: str = ""
