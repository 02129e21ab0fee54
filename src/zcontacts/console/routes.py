"""The console's pages. Each action authorizes the session's token with `api.auth.authorize` — the check
behind every API route, scopes and rate limit included — then calls the same domain function as the API."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from zcontacts.api.auth import authorize
from zcontacts.api.bodies import read_form
from zcontacts.api.context import database_of, stamp_of
from zcontacts.console.forms import SALUTATIONS, create_body, form_values, record_values, update_body
from zcontacts.console.session import (
    Session,
    check_form_token,
    check_signin_token,
    new_form_token,
    new_session,
    session_of,
    store,
    store_signin_token,
)
from zcontacts.domain.contacts import create_contact, delete_contact, set_status, update_contact
from zcontacts.domain.history import render_entry
from zcontacts.domain.ids import as_id
from zcontacts.domain.listing import parse_list_query
from zcontacts.domain.scopes import Access
from zcontacts.domain.tokens import Grant
from zcontacts.errors import NotAuthorized, NotFound, ZohoError
from zcontacts.storage.contacts import ContactsRepo, read_page

if TYPE_CHECKING:
    from jinja2 import Environment

AnyRequest = Request[Any, Any, Any]
PER_PAGE = 25
HISTORY_SHOWN = 50
STATUS_FILTERS = {"all": "Status.All", "active": "Status.Active", "inactive": "Status.Inactive"}
NOTICES = {
    "created": "The customer has been created.",
    "saved": "Customer information has been saved.",
    "deleted": "The customer has been deleted.",
    "active": "The contact has been marked as active.",
    "inactive": "The contact has been marked as inactive.",
    "signedout": "You have signed out.",
}
_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@cache
def templates() -> Environment:
    """The console's Jinja2 environment, made on first use: jinja2 is not imported by a server nobody opens the
    console of (it is a twentieth of a second of every cold start)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("zcontacts.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class SignInRequired(Exception):
    """The request has no session: the answer is the sign-in page."""


def page(name: str, status: int = 200, **context: Any) -> Response[str]:
    """A rendered template as an HTML response."""
    html = templates().get_template(name).render(notices=NOTICES, **context)
    return Response(html, status_code=status, media_type="text/html", headers=_SECURITY_HEADERS)


def go(path: str, **query: str) -> Redirect:
    """303 See Other to a console page (after a form post)."""
    return Redirect(path + ("?" + urlencode(query) if query else ""), status_code=303)


async def signed_in(request: AnyRequest, access: Access) -> tuple[Session, Grant]:
    """The session and its token's grant, if that token may do `access` in the session's organization."""
    session = session_of(request)
    if session is None:
        raise SignInRequired()
    grant = await authorize(request, session.token, access, session.organization_id)
    return session, grant


async def posted(request: AnyRequest, access: Access) -> tuple[Session, Grant, dict[str, Any]]:
    """As `signed_in`, for a form post: also checks the form token and returns the form."""
    session = session_of(request)
    if session is None:
        raise SignInRequired()
    form = dict((await read_form(request)).items())
    check_form_token(session, form.get("csrf"))
    grant = await authorize(request, session.token, access, session.organization_id)
    return session, grant, form


def key_of(contact_id: str) -> str:
    """The numeric id in a console path, or 404."""
    key = as_id(contact_id)
    if key is None:
        raise NotFound()
    return str(key)


def _sign_in_needed(_request: AnyRequest, _exc: SignInRequired) -> Response[Any]:
    return go("/console/signin")


def _refused(request: AnyRequest, exc: ZohoError) -> Response[str]:
    """A refusal as a friendly page carrying Zoho's message and status."""
    return page("error.html", status=int(exc.status), message=exc.message, session=session_of(request))


def is_console_path(path: str) -> bool:
    """True for the console's addresses (/console and below)."""
    return path == "/console" or path.startswith("/console/")


def not_found_page(request: AnyRequest) -> Response[str]:
    """The console's 404 page, for an address under /console that no route serves (the router answers those
    before any console handler runs): a browser asked, not an API client."""
    return _refused(request, NotFound())


class ConsoleController(Controller):
    """GET/POST /console/…"""

    path = "/console"
    include_in_schema = False
    exception_handlers = {SignInRequired: _sign_in_needed, ZohoError: _refused}  # noqa: RUF012

    @get("/")
    async def home(self) -> Redirect:
        """The customer list."""
        return go("/console/contacts")

    @get("/signin")
    async def signin_form(self, request: AnyRequest) -> Response[str]:
        """The sign-in form: a token and an organization id."""
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return _signin_page(request, 200, notice=notice, organization_id="")

    @post("/signin")
    async def signin(self, request: AnyRequest) -> Response[Any]:
        """Check the token (it must be able to read the organization's customers) and start a session."""
        form = await read_form(request)
        token = str(form.get("token") or "").strip()
        organization_id = str(form.get("organization_id") or "").strip()
        try:
            check_signin_token(request, form.get("csrf"))
            if not token or not organization_id or len(token) > 512 or len(organization_id) > 40:
                raise NotAuthorized("Enter a token and the organization id it belongs to.")
            await authorize(request, token, Access.READ, organization_id)
        except ZohoError as exc:
            return _signin_page(request, int(exc.status), error=exc.message, organization_id=organization_id)
        response = go("/console/contacts")
        store(response, request, new_session(organization_id, token))
        store_signin_token(response, request, None)
        return response

    @post("/signout")
    async def signout(self, request: AnyRequest) -> Response[Any]:
        """Forget the session."""
        session = session_of(request)
        if session is not None:
            check_form_token(session, (await read_form(request)).get("csrf"))
        response = go("/console/signin", notice="signedout")
        store(response, request, None)
        return response

    @get("/contacts")
    async def contacts(self, request: AnyRequest) -> Response[str]:
        """Customers, searched, filtered and paged."""
        session, grant = await signed_in(request, Access.READ)
        params = request.query_params
        search = params.get("search_text", "").strip()
        status = params.get("status", "all")
        company = params.get("company", "").strip()
        page_number = params.get("page", "1")
        query_params = [("page", page_number), ("per_page", str(PER_PAGE))]
        query_params.append(("filter_by", STATUS_FILTERS.get(status, "Status.All")))
        if search:
            query_params.append(("search_text", search))
        if company:
            query_params.append(("company_name_contains", company))
        query = parse_list_query(query_params)
        rows = await read_page(database_of(request), grant.organization.organization_id, query)
        customers = [msgspec.json.decode(row) for row in rows[:PER_PAGE]]
        keep = {"search_text": search, "status": status, "company": company}
        return page(
            "list.html",
            session=session,
            customers=customers,
            filters=keep,
            page_number=query.page,
            previous_url=f"?{urlencode({**keep, 'page': query.page - 1})}" if query.page > 1 else None,
            next_url=f"?{urlencode({**keep, 'page': query.page + 1})}" if len(rows) > PER_PAGE else None,
            notice=NOTICES.get(params.get("notice", "")),
        )

    @get("/contacts/new")
    async def new_form(self, request: AnyRequest) -> Response[str]:
        """An empty customer form."""
        session, _ = await signed_in(request, Access.CREATE)
        return page("form.html", session=session, values={}, contact=None, salutations=SALUTATIONS)

    @post("/contacts/new")
    async def create(self, request: AnyRequest) -> Response[Any]:
        """Create the customer of the form (or show the form again with Zoho's message)."""
        session, grant, form = await posted(request, Access.CREATE)
        values = form_values(form)
        try:
            body = create_body(values)
            stamp = stamp_of(grant)
            record = await database_of(request).write(
                lambda c: create_contact(ContactsRepo(c), grant.organization, body, stamp)
            )
        except ZohoError as exc:
            return page(
                "form.html",
                int(exc.status),
                session=session,
                values=values,
                contact=None,
                salutations=SALUTATIONS,
                error=exc.message,
            )
        return go(f"/console/contacts/{record.contact.contact_id}", notice="created")

    @get("/contacts/{contact_id:str}")
    async def view(self, request: AnyRequest, contact_id: FromPath[str]) -> Response[str]:
        """Every field of a customer, its persons, addresses and history."""
        session, grant = await signed_in(request, Access.READ)
        key = key_of(contact_id)
        org = grant.organization

        def read(connection: Any) -> tuple[Any, Any]:
            repo = ContactsRepo(connection)
            record = repo.get_record(org.organization_id, key)
            history = repo.history(org.organization_id, key, limit=HISTORY_SHOWN, offset=0, live_only=True)
            return record, history

        record, history = await database_of(request).read(read)
        if record is None:
            raise NotFound()
        entries = [render_entry(row, org.time_zone) for row in history or []]
        return page(
            "view.html",
            session=session,
            record=record,
            contact=record.contact,
            history=entries,
            notice=NOTICES.get(request.query_params.get("notice", "")),
        )

    @get("/contacts/{contact_id:str}/edit")
    async def edit_form(self, request: AnyRequest, contact_id: FromPath[str]) -> Response[str]:
        """The customer's form, filled in."""
        session, grant = await signed_in(request, Access.UPDATE)
        record = await _record(request, grant, key_of(contact_id))
        return page(
            "form.html",
            session=session,
            values=record_values(record),
            contact=record.contact,
            salutations=SALUTATIONS,
        )

    @post("/contacts/{contact_id:str}/edit")
    async def edit(self, request: AnyRequest, contact_id: FromPath[str]) -> Response[Any]:
        """Save the form (or show it again with Zoho's message)."""
        session, grant, form = await posted(request, Access.UPDATE)
        key = key_of(contact_id)
        record = await _record(request, grant, key)
        values = form_values(form)
        try:
            body = update_body(values, record)
            stamp = stamp_of(grant)
            await database_of(request).write(
                lambda c: update_contact(ContactsRepo(c), grant.organization, key, body, stamp)
            )
        except ZohoError as exc:
            return page(
                "form.html",
                int(exc.status),
                session=session,
                values=values,
                contact=record.contact,
                salutations=SALUTATIONS,
                error=exc.message,
            )
        return go(f"/console/contacts/{key}", notice="saved")

    @post("/contacts/{contact_id:str}/status")
    async def status(self, request: AnyRequest, contact_id: FromPath[str]) -> Redirect:
        """Mark the customer active or inactive."""
        _, grant, form = await posted(request, Access.UPDATE)
        key = key_of(contact_id)
        status = "inactive" if form.get("status") == "inactive" else "active"
        stamp = stamp_of(grant)
        await database_of(request).write(
            lambda c: set_status(ContactsRepo(c), grant.organization, key, status, stamp)
        )
        return go(f"/console/contacts/{key}", notice=status)

    @get("/contacts/{contact_id:str}/delete")
    async def delete_form(self, request: AnyRequest, contact_id: FromPath[str]) -> Response[str]:
        """Ask before deleting."""
        session, grant = await signed_in(request, Access.DELETE)
        record = await _record(request, grant, key_of(contact_id))
        return page("delete.html", session=session, contact=record.contact)

    @post("/contacts/{contact_id:str}/delete")
    async def delete(self, request: AnyRequest, contact_id: FromPath[str]) -> Redirect:
        """Delete the customer."""
        _, grant, _form = await posted(request, Access.DELETE)
        key = key_of(contact_id)
        stamp = stamp_of(grant)
        await database_of(request).write(
            lambda c: delete_contact(ContactsRepo(c), grant.organization, key, stamp)
        )
        return go("/console/contacts", notice="deleted")


def _signin_page(request: AnyRequest, status: int, **context: Any) -> Response[str]:
    """The sign-in form with a fresh form token (in the page and in its cookie)."""
    form_token = new_form_token()
    response = page("signin.html", status=status, signin_csrf=form_token, **context)
    store_signin_token(response, request, form_token)
    return response


async def _record(request: AnyRequest, grant: Grant, key: str) -> Any:
    organization_id = grant.organization.organization_id
    record = await database_of(request).read(lambda c: ContactsRepo(c).get_record(organization_id, key))
    if record is None:
        raise NotFound()
    return record
