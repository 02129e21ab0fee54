"""Addresses as a sub-resource (billing, shipping and additional ones), with Zoho Books' paths."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Controller, Response, delete, get, post, put
from litestar.params import FromPath

from zcontacts.api.bodies import decoder_for, read_body
from zcontacts.api.contacts import CONTACT_DEPENDENCIES, AnyRequest, Db, Principal, contact_key, read_record
from zcontacts.api.context import ROUTED, SUCCESS, stamp_of
from zcontacts.api.idempotency import Reply, write_once
from zcontacts.api.responses import json_response, message_body, with_object
from zcontacts.domain.contact_parts import add_address, addresses_of, delete_address, update_address
from zcontacts.domain.schemas import AddressIn
from zcontacts.domain.scopes import Access
from zcontacts.storage.contacts import ContactsRepo

if TYPE_CHECKING:
    from sqlalchemy import Connection  # the transaction `work` runs in (storage owns SQL)

CREATED = "The address has been created."
UPDATED = "The address has been updated."
DELETED = "The address has been deleted."

_BODY = decoder_for(AddressIn)


class ContactAddressesController(Controller):
    """GET/POST /contacts/{id}/address and PUT/DELETE /contacts/{id}/address/{address_id}."""

    path = ROUTED + "/contacts/{contact_id:str}/address"
    tags = ["Addresses"]  # noqa: RUF012
    dependencies = CONTACT_DEPENDENCIES

    @get("/", opt={"access": Access.READ}, operation_id="listAddresses")
    async def list_addresses(
        self, contact_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """Billing, shipping and the additional addresses, with every field."""
        record = await read_record(database, principal, contact_id)
        return json_response(with_object(SUCCESS, "addresses", addresses_of(record)))

    @post("/", status_code=201, opt={"access": Access.UPDATE}, operation_id="createAddress")
    async def create_address(
        self, request: AnyRequest, contact_id: FromPath[str], principal: Principal
    ) -> Response[bytes]:
        """Add an address beside billing and shipping."""
        key = str(contact_key(contact_id))
        body = await read_body(request, _BODY)
        stamp = stamp_of(principal)

        def work(connection: Connection) -> Reply:
            _, address = add_address(ContactsRepo(connection), principal.organization, key, body, stamp)
            return Reply(201, with_object(CREATED, "address_info", address))

        return await write_once(request, principal, work)

    @put("/{address_id:str}", opt={"access": Access.UPDATE}, operation_id="updateAddress")
    async def update_address(
        self,
        request: AnyRequest,
        contact_id: FromPath[str],
        address_id: FromPath[str],
        principal: Principal,
    ) -> Response[bytes]:
        """Update one address field by field (billing and shipping included)."""
        key = str(contact_key(contact_id))
        body = await read_body(request, _BODY)
        stamp = stamp_of(principal)

        def work(connection: Connection) -> Reply:
            repo = ContactsRepo(connection)
            _, address = update_address(repo, principal.organization, key, address_id, body, stamp)
            return Reply(200, with_object(UPDATED, "address_info", address))

        return await write_once(request, principal, work)

    @delete("/{address_id:str}", status_code=200, opt={"access": Access.UPDATE}, operation_id="deleteAddress")
    async def delete_address(
        self, contact_id: FromPath[str], address_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """Delete an additional address."""
        key = str(contact_key(contact_id))
        stamp = stamp_of(principal)
        await database.write(
            lambda connection: delete_address(
                ContactsRepo(connection), principal.organization, key, address_id, stamp
            )
        )
        return json_response(message_body(0, DELETED))
