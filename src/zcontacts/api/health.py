"""Probes for load balancers and orchestrators: no token, never rate limited, not in the API document.

/healthz says the process is alive (it touches nothing); /readyz says this replica can serve: its database
answers and its schema is at this code's head, or ahead of it. Ahead is a rolling upgrade under way (`db
upgrade` ran for a newer release; migrations are additive, docs/SCALING.md), and the replicas of the previous
release keep serving until they are replaced. A replica that is not ready gets a 503, so a load balancer sends
its traffic elsewhere until the database is back or `zcontacts db upgrade` has run. A replica whose pooled
connections are all busy is ready: the probe asks on a connection of its own (Database.probe), at once."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, get
from sqlalchemy.exc import SQLAlchemyError

from zcontacts.api.responses import json_response, message_body
from zcontacts.errors import DatabaseUnavailable, NotReady
from zcontacts.storage import migrate
from zcontacts.storage.database import Database
from zcontacts.storage.engine import first_line

log = logging.getLogger("zcontacts")

_OK = message_body(0, "ok")
_READY = message_body(0, "ready")


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> Response[bytes]:
    """The process is up and its event loop answers."""
    return json_response(_OK)


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The database answers and its schema is at this code's head revision, or past it; else 503."""
    database: Database = request.app.state.database
    head: str | None = request.app.state.schema_head
    known: frozenset[str] = request.app.state.schema_known
    try:
        revision = await database.probe(migrate.revision_of)
    except DatabaseUnavailable:  # logged where it was met
        raise NotReady() from None
    except (SQLAlchemyError, OSError) as exc:
        log.warning("readyz: database unreachable: %s", first_line(exc))
        raise NotReady() from None
    if revision is not None and revision not in known:  # migrated by a newer release
        return json_response(
            message_body(
                0,
                f"ready; the database schema is ahead of this server (at revision {revision}, this server's "
                f"newest is {head}): it serves until the newer release replaces it",
            )
        )
    if revision != head:
        raise NotReady(
            f"Service unavailable: the database schema is at revision {revision or 'none'}, behind this "
            f"server's {head}; run `zcontacts db upgrade`."
        )
    return json_response(_READY)


HEALTH_ROUTES = [healthz, readyz]
