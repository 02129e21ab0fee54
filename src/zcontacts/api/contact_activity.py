"""A contact's status (active/inactive) and its history (`comments`)."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.params import FromPath

from zcontacts.api.contacts import CONTACT_DEPENDENCIES, AnyRequest, Db, Principal, contact_key
from zcontacts.api.context import ROUTED, stamp_of
from zcontacts.api.paging import page_of
from zcontacts.api.responses import json_response, message_body, with_items
from zcontacts.domain.contacts import set_status
from zcontacts.domain.history import render_entry
from zcontacts.domain.scopes import Access
from zcontacts.errors import NotFound
from zcontacts.storage.contacts import ContactsRepo

MARKED = {
    "active": "The contact has been marked as active.",
    "inactive": "The contact has been marked as inactive.",
}


class ContactActivityController(Controller):
    """POST /contacts/{id}/active, POST /contacts/{id}/inactive, GET /contacts/{id}/comments."""

    path = ROUTED + "/contacts/{contact_id:str}"
    tags = ["Customers"]  # noqa: RUF012
    dependencies = CONTACT_DEPENDENCIES

    @post("/active", status_code=200, opt={"access": Access.UPDATE}, operation_id="markActive")
    async def mark_active(
        self, contact_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """Mark the contact as active."""
        return await _set_status(contact_id, "active", principal, database)

    @post("/inactive", status_code=200, opt={"access": Access.UPDATE}, operation_id="markInactive")
    async def mark_inactive(
        self, contact_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """Mark the contact as inactive."""
        return await _set_status(contact_id, "inactive", principal, database)

    @get("/comments", opt={"access": Access.READ}, operation_id="listComments")
    async def comments(
        self, request: AnyRequest, contact_id: FromPath[str], principal: Principal, database: Db
    ) -> Response[bytes]:
        """Every recorded change of the contact, newest first, with who made it and which fields changed."""
        page, per_page = page_of(request)
        key = str(contact_key(contact_id))
        org = principal.organization
        rows = await database.read(
            lambda connection: ContactsRepo(connection).history(
                org.organization_id, key, limit=per_page + 1, offset=(page - 1) * per_page, live_only=True
            )
        )
        if rows is None:
            raise NotFound()
        entries = [render_entry(row, org.time_zone) for row in rows]
        has_more = len(entries) > per_page
        return json_response(with_items("contact_comments", entries[:per_page], page, per_page, has_more))


async def _set_status(contact_id: str, status: str, principal: Principal, database: Db) -> Response[bytes]:
    key = str(contact_key(contact_id))
    stamp = stamp_of(principal)
    await database.write(
        lambda connection: set_status(ContactsRepo(connection), principal.organization, key, status, stamp)
    )
    return json_response(message_body(0, MARKED[status]))
