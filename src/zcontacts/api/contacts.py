"""Routes for /contacts: the five Customers operations of the reference, mounted under /expense/v1 (Zoho
Expense's wording) and /books/v3 (Zoho Books' wording)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from zcontacts.api.auth import provide_principal
from zcontacts.api.bodies import decoder_for, read_body
from zcontacts.api.context import (
    ROUTED,
    SUCCESS,
    Wording,
    database_of,
    provide_database,
    stamp_of,
    wording_of,
)
from zcontacts.api.idempotency import Reply, write_once
from zcontacts.api.preconditions import IF_MATCH_HEADER, check_if_match, etag_of
from zcontacts.api.responses import json_response, message_body, with_contact, with_list
from zcontacts.domain.contacts import Stamp, create_contact, delete_contact, update_contact
from zcontacts.domain.ids import as_id
from zcontacts.domain.listing import ListQuery, parse_list_query
from zcontacts.domain.schemas import ContactCreate, ContactRecord, ContactUpdate, PageContext, encode
from zcontacts.domain.scopes import Access
from zcontacts.domain.tokens import Grant
from zcontacts.errors import NotFound
from zcontacts.storage.contacts import ContactsRepo, read_page, read_versioned_doc
from zcontacts.storage.database import Database, Work

if TYPE_CHECKING:
    from sqlalchemy import Connection  # the transaction `work` runs in (storage owns SQL)

CREATE_BODY = decoder_for(ContactCreate)
UPDATE_BODY = decoder_for(ContactUpdate)

Principal = NamedDependency[Grant]
Db = NamedDependency[Database]
AnyRequest = Request[Any, Any, Any]

# The sub-resource routes take these as dependencies; the five hot routes below call provide_principal and
# database_of themselves (measured faster, see database_of).
CONTACT_DEPENDENCIES = {"principal": Provide(provide_principal), "database": Provide(provide_database)}


def contact_key(contact_id: str) -> int:
    """The numeric id in a path; anything else names no customer."""
    key = as_id(contact_id)
    if key is None:
        raise NotFound()
    return key


async def read_record(database: Database, principal: Grant, contact_id: str) -> ContactRecord:
    """The addressed contact's full record, or 404."""
    key = str(contact_key(contact_id))
    organization_id = principal.organization.organization_id
    record = await database.read(lambda connection: ContactsRepo(connection).get_record(organization_id, key))
    if record is None:
        raise NotFound()
    return record


async def contact_body(database: Database, organization_id: str, key: int) -> tuple[bytes, str]:
    """GET by id: the response body and the contact's ETag, or 404 (the route and the fast path share it)."""
    found = await read_versioned_doc(database, organization_id, key)
    if found is None:
        raise NotFound()
    doc, version = found
    return with_contact(SUCCESS, doc), etag_of(key, version)


async def list_body(database: Database, organization_id: str, query: ListQuery, list_key: str) -> bytes:
    """The list's response body (the route and the fast path share it)."""
    rows = await read_page(database, organization_id, query)
    has_more = len(rows) > query.per_page
    return with_list(list_key, rows[: query.per_page], page_context(query, has_more))


def page_context(query: ListQuery, has_more: bool) -> bytes:
    """The list response's page_context."""
    return encode(
        PageContext(
            page=query.page,
            per_page=query.per_page,
            has_more_page=has_more,
            applied_filter=query.applied_filter,
            sort_column=query.sort_column,
            sort_order=query.sort_order,
            search_text=query.search_text,
        )
    )


# ---- the three writes, as the routes and the fast path (api/fast_path.py) both run them ---------------------


def create_work(principal: Grant, body: ContactCreate, wording: Wording) -> Work[Reply]:
    """The transaction of a create: the new customer and its first ETag."""
    stamp = stamp_of(principal)

    def work(connection: Connection) -> Reply:
        record = create_contact(ContactsRepo(connection), principal.organization, body, stamp)
        etag = etag_of(record.contact.contact_id, 1)  # a new row's first version
        return Reply(201, with_contact(wording.created, encode(record.contact)), {"ETag": etag})

    return work


def update_work(
    principal: Grant, contact_id: int, body: ContactUpdate, if_match: str | None, wording: Wording
) -> Work[Reply]:
    """The transaction of an update: the customer as saved and its new ETag."""
    organization = principal.organization

    def change(repo: ContactsRepo, key: str, stamp: Stamp) -> Reply:
        record = update_contact(repo, organization, key, body, stamp)
        version = repo.version_for_update(organization.organization_id, key) or 0
        return Reply(
            200, with_contact(wording.saved, encode(record.contact)), {"ETag": etag_of(key, version)}
        )

    return _one_contact(principal, contact_id, if_match, change)


def delete_work(principal: Grant, contact_id: int, if_match: str | None, wording: Wording) -> Work[Reply]:
    """The transaction of a delete."""

    def change(repo: ContactsRepo, key: str, stamp: Stamp) -> Reply:
        delete_contact(repo, principal.organization, key, stamp)
        return Reply(200, message_body(0, wording.deleted))

    return _one_contact(principal, contact_id, if_match, change)


def _one_contact(
    principal: Grant,
    contact_id: int,
    if_match: str | None,
    change: Callable[[ContactsRepo, str, Stamp], Reply],
) -> Work[Reply]:
    """The transaction of a change to one customer, its If-Match checked first inside it (404, 412)."""
    organization_id = principal.organization.organization_id
    key = str(contact_id)
    stamp = stamp_of(principal)

    def work(connection: Connection) -> Reply:
        repo = ContactsRepo(connection)
        check_if_match(repo, organization_id, key, if_match)
        return change(repo, key, stamp)

    return work


class ContactsController(Controller):
    """The Customers API."""

    path = ROUTED + "/contacts"
    tags = ["Customers"]  # noqa: RUF012 (Litestar reads a plain list)

    @post("/", status_code=201, opt={"access": Access.CREATE}, operation_id="createCustomer")
    async def create(self, request: AnyRequest) -> Response[bytes]:
        """Create a new customer. OAuth scope: ZohoExpense.contacts.CREATE."""
        principal = await provide_principal(request)
        body = await read_body(request, CREATE_BODY)
        return await write_once(request, principal, create_work(principal, body, wording_of(request)))

    @get("/", opt={"access": Access.READ}, operation_id="listCustomers")
    async def list_customers(self, request: AnyRequest) -> Response[bytes]:
        """List customers, paged, filtered and sorted. OAuth scope: ZohoExpense.customer.READ."""
        principal = await provide_principal(request)
        query = parse_list_query(request.query_params.items())
        organization_id = principal.organization.organization_id
        return json_response(
            await list_body(database_of(request), organization_id, query, wording_of(request).list_key)
        )

    @get("/{contact_id:str}", opt={"access": Access.READ}, operation_id="getCustomer")
    async def retrieve(self, request: AnyRequest, contact_id: FromPath[str]) -> Response[bytes]:
        """Details of an existing customer, with its ETag. OAuth scope: ZohoExpense.customer.READ."""
        principal = await provide_principal(request)
        key = contact_key(contact_id)
        body, etag = await contact_body(database_of(request), principal.organization.organization_id, key)
        return json_response(body, headers={"ETag": etag})

    @put("/{contact_id:str}", opt={"access": Access.UPDATE}, operation_id="updateCustomer")
    async def update(self, request: AnyRequest, contact_id: FromPath[str]) -> Response[bytes]:
        """Update an existing customer (If-Match: its ETag, optional). OAuth scope: ZohoExpense.customer.UPDATE."""
        principal = await provide_principal(request)
        key = contact_key(contact_id)
        body = await read_body(request, UPDATE_BODY)
        work = update_work(principal, key, body, request.headers.get(IF_MATCH_HEADER), wording_of(request))
        return await write_once(request, principal, work)

    @delete(
        "/{contact_id:str}", status_code=200, opt={"access": Access.DELETE}, operation_id="deleteCustomer"
    )
    async def remove(self, request: AnyRequest, contact_id: FromPath[str]) -> Response[bytes]:
        """Delete an existing customer (If-Match: its ETag, optional). OAuth scope: ZohoExpense.contacts.DELETE."""
        principal = await provide_principal(request)
        key = contact_key(contact_id)
        work = delete_work(principal, key, request.headers.get(IF_MATCH_HEADER), wording_of(request))
        return (await database_of(request).write(work)).response()
