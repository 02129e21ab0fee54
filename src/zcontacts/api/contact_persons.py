"""Contact persons as a sub-resource, with Zoho Books' paths and messages (under both API prefixes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Controller, Response, delete, get, post, put
from litestar.params import FromPath

from zcontacts.api.bodies import decoder_for, read_body
from zcontacts.api.contacts import CONTACT_DEPENDENCIES, AnyRequest, Db, Principal, read_record
from zcontacts.api.context import ROUTED, SUCCESS, stamp_of
from zcontacts.api.idempotency import Reply, write_once
from zcontacts.api.paging import page_of
from zcontacts.api.responses import json_response, message_body, with_items, with_object
from zcontacts.domain.contact_parts import add_person, delete_person, mark_primary, update_person
from zcontacts.domain.schemas import ContactPersonCreate, ContactPersonIn
from zcontacts.domain.scopes import Access
from zcontacts.errors import NotFound
from zcontacts.storage.contacts import ContactsRepo

if TYPE_CHECKING:
    from sqlalchemy import Connection  # the transaction `work` runs in (storage owns SQL)

CREATED = "The contactperson has been Created"
UPDATED = "The contactperson details has been updated."
DELETED = "The contact person has been deleted."
PRIMARY = "This contact person has been marked as your primary contact person."

_CREATE_BODY = decoder_for(ContactPersonCreate)
_UPDATE_BODY = decoder_for(ContactPersonIn)


class ContactPersonsController(Controller):
    """GET /contacts/{id}/contactpersons[/{cp_id}], POST/PUT/DELETE /contacts/contactpersons[/{cp_id}], and
    POST /contacts/contactpersons/{cp_id}/primary."""

    path = ROUTED + "/contacts"
    tags = ["Contact persons"]  # noqa: RUF012
    dependencies = CONTACT_DEPENDENCIES

    @get("/{contact_id:str}/contactpersons", opt={"access": Access.READ}, operation_id="listContactPersons")
    async def list_persons(
        self, request: AnyRequest, contact_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """The contact's persons, primary first as stored."""
        page, per_page = page_of(request)
        persons = (await read_record(database, principal, contact_id)).contact.contact_persons
        start = (page - 1) * per_page
        chunk = persons[start : start + per_page]
        return json_response(
            with_items("contact_persons", chunk, page, per_page, len(persons) > start + per_page)
        )

    @get(
        "/{contact_id:str}/contactpersons/{contact_person_id:str}",
        opt={"access": Access.READ},
        operation_id="getContactPerson",
    )
    async def get_person(
        self, contact_id: FromPath[str], contact_person_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """One person of the contact."""
        return await _person(database, principal, contact_id, contact_person_id)

    @post(
        "/contactpersons", status_code=201, opt={"access": Access.UPDATE}, operation_id="createContactPerson"
    )
    async def create_person(self, request: AnyRequest, principal: Principal) -> Response[bytes]:
        """Add a person to the contact named by the body's contact_id."""
        body = await read_body(request, _CREATE_BODY)
        stamp = stamp_of(principal)

        def work(connection: Connection) -> Reply:
            _, person = add_person(ContactsRepo(connection), principal.organization, body, stamp)
            return Reply(201, with_object(CREATED, "contact_person", person))

        return await write_once(request, principal, work)

    # `/contacts/contactpersons` is also `/contacts/{contact_id}` with the id "contactpersons": Zoho answers
    # the other methods as it would for any unknown customer (404), never 405.
    @get("/contactpersons", opt={"access": Access.READ}, include_in_schema=False)
    async def get_no_contact(self, principal: Principal) -> Response[bytes]:
        """No customer has the id "contactpersons"."""
        raise NotFound()

    @put("/contactpersons", opt={"access": Access.UPDATE}, include_in_schema=False)
    async def put_no_contact(self, principal: Principal) -> Response[bytes]:
        """No customer has the id "contactpersons"."""
        raise NotFound()

    @delete("/contactpersons", status_code=200, opt={"access": Access.DELETE}, include_in_schema=False)
    async def delete_no_contact(self, principal: Principal) -> Response[bytes]:
        """No customer has the id "contactpersons"."""
        raise NotFound()

    @get(
        "/contactpersons/{contact_person_id:str}",
        opt={"access": Access.READ},
        operation_id="getContactPersonById",
    )
    async def get_person_by_id(
        self, contact_person_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """One person by its own id (the path Zoho's older Books SDKs read a person from)."""
        organization_id = principal.organization.organization_id
        contact_id = await database.read(
            lambda connection: ContactsRepo(connection).contact_of_person(organization_id, contact_person_id)
        )
        if contact_id is None:
            raise NotFound("Contact person does not exist.")
        return await _person(database, principal, contact_id, contact_person_id)

    @put(
        "/contactpersons/{contact_person_id:str}",
        opt={"access": Access.UPDATE},
        operation_id="updateContactPerson",
    )
    async def update_person(
        self, request: AnyRequest, contact_person_id: FromPath[str], principal: Principal
    ) -> Response[bytes]:
        """Update one person field by field."""
        body = await read_body(request, _UPDATE_BODY)
        stamp = stamp_of(principal)

        def work(connection: Connection) -> Reply:
            repo = ContactsRepo(connection)
            _, person = update_person(repo, principal.organization, contact_person_id, body, stamp)
            return Reply(200, with_object(UPDATED, "contact_person", person))

        return await write_once(request, principal, work)

    @delete(
        "/contactpersons/{contact_person_id:str}",
        status_code=200,
        opt={"access": Access.UPDATE},
        operation_id="deleteContactPerson",
    )
    async def delete_person(
        self, contact_person_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """Remove one person; the first remaining one becomes primary if it was."""
        stamp = stamp_of(principal)
        await database.write(
            lambda connection: delete_person(
                ContactsRepo(connection), principal.organization, contact_person_id, stamp
            )
        )
        return json_response(message_body(0, DELETED))

    @post(
        "/contactpersons/{contact_person_id:str}/primary",
        status_code=200,
        opt={"access": Access.UPDATE},
        operation_id="markPrimaryContactPerson",
    )
    async def mark_primary(
        self, contact_person_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """Make a person the contact's primary person."""
        stamp = stamp_of(principal)
        await database.write(
            lambda connection: mark_primary(
                ContactsRepo(connection), principal.organization, contact_person_id, stamp
            )
        )
        return json_response(message_body(0, PRIMARY))


async def _person(
    database: Db, principal: Principal, contact_id: str, contact_person_id: str
) -> Response[bytes]:
    """One person of the contact, in Books' envelope."""
    record = await read_record(database, principal, contact_id)
    person = next(
        (p for p in record.contact.contact_persons if p.contact_person_id == contact_person_id), None
    )
    if person is None:
        raise NotFound("Contact person does not exist.")
    return json_response(with_object(SUCCESS, "contact_person", person))
