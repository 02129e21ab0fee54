"""Routes for /expense/v1/contacts: the five Customers operations of the reference."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from zcontacts.api.auth import provide_principal
from zcontacts.api.bodies import decoder_for, read_body
from zcontacts.api.responses import json_response, message_body, with_contact, with_list
from zcontacts.domain.contacts import create_contact, delete_contact, update_contact
from zcontacts.domain.listing import ListQuery, parse_list_query
from zcontacts.domain.schemas import Contact, ContactCreate, ContactUpdate, PageContext, encode
from zcontacts.domain.scopes import Access
from zcontacts.domain.tokens import Grant
from zcontacts.domain.zoho_time import now_ms
from zcontacts.errors import NotFound
from zcontacts.storage.contacts import ContactsRepo
from zcontacts.storage.database import Database

CREATED = "The customer has been created."
SAVED = "Customer information has been saved."
DELETED = "The customer has been deleted."
SUCCESS = "success"

_CREATE_BODY = decoder_for(ContactCreate)
_UPDATE_BODY = decoder_for(ContactUpdate)
_MAX_ID = 2**63 - 1


def contact_key(contact_id: str) -> int:
    """The numeric id in a path; anything else names no customer."""
    if (
        not (contact_id.isascii() and contact_id.isdigit())
        or len(contact_id) > 19
        or int(contact_id) > _MAX_ID
    ):
        raise NotFound()
    return int(contact_id)


async def provide_database(request: Request[Any, Any, Any]) -> Database:
    """The application's database."""
    database: Database = request.app.state.database
    return database


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


class ContactsController(Controller):
    """The Customers API of Zoho Expense."""

    path = "/expense/v1/contacts"
    tags = ["Customers"]  # noqa: RUF012 (Litestar reads a plain list)
    dependencies = {"principal": Provide(provide_principal), "database": Provide(provide_database)}  # noqa: RUF012

    @post("/", status_code=201, opt={"access": Access.CREATE}, operation_id="createCustomer")
    async def create(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Grant],
        database: NamedDependency[Database],
    ) -> Response[bytes]:
        """Create a new customer. OAuth scope: ZohoExpense.contacts.CREATE."""
        body = await read_body(request, _CREATE_BODY)
        at = now_ms()
        contact: Contact = await database.write(
            lambda connection: create_contact(ContactsRepo(connection), principal.organization, body, at)
        )
        return json_response(with_contact(CREATED, encode(contact)), status=201)

    @get("/", opt={"access": Access.READ}, operation_id="listCustomers")
    async def list_customers(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Grant],
        database: NamedDependency[Database],
    ) -> Response[bytes]:
        """List customers, paged, filtered and sorted. OAuth scope: ZohoExpense.customer.READ."""
        query = parse_list_query(request.query_params.items())
        organization_id = principal.organization.organization_id
        rows = await database.read(
            lambda connection: ContactsRepo(connection).list_summaries(organization_id, query)
        )
        has_more = len(rows) > query.per_page
        return json_response(with_list("customers", rows[: query.per_page], page_context(query, has_more)))

    @get("/{contact_id:str}", opt={"access": Access.READ}, operation_id="getCustomer")
    async def retrieve(
        self,
        contact_id: FromPath[str],
        principal: NamedDependency[Grant],
        database: NamedDependency[Database],
    ) -> Response[bytes]:
        """Details of an existing customer. OAuth scope: ZohoExpense.customer.READ."""
        key = contact_key(contact_id)
        organization_id = principal.organization.organization_id
        doc = await database.read(lambda connection: ContactsRepo(connection).get_doc(organization_id, key))
        if doc is None:
            raise NotFound()
        return json_response(with_contact(SUCCESS, doc))

    @put("/{contact_id:str}", opt={"access": Access.UPDATE}, operation_id="updateCustomer")
    async def update(
        self,
        request: Request[Any, Any, Any],
        contact_id: FromPath[str],
        principal: NamedDependency[Grant],
        database: NamedDependency[Database],
    ) -> Response[bytes]:
        """Update an existing customer. OAuth scope: ZohoExpense.customer.UPDATE."""
        key = str(contact_key(contact_id))
        body = await read_body(request, _UPDATE_BODY)
        at = now_ms()
        contact: Contact = await database.write(
            lambda connection: update_contact(ContactsRepo(connection), principal.organization, key, body, at)
        )
        return json_response(with_contact(SAVED, encode(contact)))

    @delete(
        "/{contact_id:str}", status_code=200, opt={"access": Access.DELETE}, operation_id="deleteCustomer"
    )
    async def remove(
        self,
        contact_id: FromPath[str],
        principal: NamedDependency[Grant],
        database: NamedDependency[Database],
    ) -> Response[bytes]:
        """Delete an existing customer. OAuth scope: ZohoExpense.contacts.DELETE."""
        key = str(contact_key(contact_id))
        await database.write(
            lambda connection: delete_contact(ContactsRepo(connection), principal.organization, key)
        )
        return json_response(message_body(0, DELETED))
