"""What every contacts route needs besides its own arguments: the database, the wording of the API flavor it
is mounted under (Zoho Expense or Zoho Books), and the stamp of the change it makes."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from zcontacts.domain.contacts import Stamp
from zcontacts.domain.tokens import Grant
from zcontacts.domain.zoho_time import now_ms
from zcontacts.storage.database import Database


class Wording(msgspec.Struct, frozen=True):
    """Success messages and list key of one API flavor."""

    created: str
    saved: str
    deleted: str
    list_key: str


EXPENSE = Wording(
    created="The customer has been created.",
    saved="Customer information has been saved.",
    deleted="The customer has been deleted.",
    list_key="customers",
)
BOOKS = Wording(
    created="The contact has been created",
    saved="Contact has been updated successfully",
    deleted="The contact has been deleted.",
    list_key="contacts",
)
SUCCESS = "success"
# Where the Customers routes are mounted, with the wording of each (app.py mounts them; the fast path matches them).
MOUNTS = {"/expense/v1": EXPENSE, "/books/v3": BOOKS}


def wording_of(request: Request[Any, Any, Any]) -> Wording:
    """The wording of the router the request came through (set as router `opt`)."""
    wording: Wording = request.route_handler.opt.get("wording", EXPENSE)
    return wording


def stamp_of(grant: Grant) -> Stamp:
    """Now, and who acts: the token (or OAuth client) behind the request."""
    return Stamp(at_ms=now_ms(), actor_id=grant.token_id, actor_name=grant.actor_name)


async def provide_database(request: Request[Any, Any, Any]) -> Database:
    """The application's database, as a dependency."""
    return database_of(request)


def database_of(request: Request[Any, Any, Any]) -> Database:
    """The application's database. The five hot routes read it here rather than as a second dependency:
    Litestar resolves two dependencies of a handler concurrently in an anyio task group, which cost more per
    request than the whole database read (docs/PERFORMANCE.md)."""
    database: Database = request.app.state.database
    return database
