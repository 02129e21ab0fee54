"""What every contacts route needs besides its own arguments: the database, the wording of the API flavor it
is mounted under (Zoho Expense or Zoho Books), and the stamp of the change it makes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request

from zcontacts.domain.contacts import Stamp
from zcontacts.domain.tokens import Grant
from zcontacts.domain.zoho_time import now_ms
from zcontacts.storage.database import Database

if TYPE_CHECKING:
    from litestar.types import Scope


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
# Where the Customers routes are served, with the wording of each (the fast path matches them all).
MOUNTS = {"/expense/v1": EXPENSE, "/books/v3": BOOKS}
# Litestar mounts the routes once, under ROUTED; a request under another mount is routed as its ROUTED twin
# (`route_as_routed`) and keeps its own mount and path in the scope. A second Litestar mount of the same routes
# was half the time of building the app (~50 ms of every cold start: Litestar copies every handler it mounts).
ROUTED = "/expense/v1"
MOUNT_KEY = "zcontacts.mount"
PATH_KEY = "zcontacts.path"
_ALIASES = tuple(mount for mount in MOUNTS if mount != ROUTED)


def route_as_routed(scope: Scope) -> None:
    """Give a request under an aliased mount the path of its twin under ROUTED, keeping what it was in the
    scope (a request under no alias is left as it is)."""
    path: str = scope["path"]
    for mount in _ALIASES:
        if path.startswith(mount) and path[len(mount) : len(mount) + 1] in ("", "/"):
            scope[PATH_KEY] = path  # type: ignore[literal-required]
            scope[MOUNT_KEY] = mount  # type: ignore[literal-required]
            scope["path"] = ROUTED + path[len(mount) :]
            return


def as_requested(scope: Scope, routed_path: str) -> str:
    """A path or route template of this request as the client addressed it (under its own mount)."""
    mount: str | None = scope.get(MOUNT_KEY)  # type: ignore[assignment]
    if mount is None or not routed_path.startswith(ROUTED):
        return routed_path
    return mount + routed_path[len(ROUTED) :]


def path_of(request: Request[Any, Any, Any]) -> str:
    """The request's path as the client sent it (request.url.path is its routed twin's)."""
    path: str = request.scope.get(PATH_KEY) or request.url.path  # type: ignore[assignment]
    return path


def wording_of(request: Request[Any, Any, Any]) -> Wording:
    """The wording of the mount the request came through."""
    return MOUNTS[request.scope.get(MOUNT_KEY) or ROUTED]  # type: ignore[index]


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
