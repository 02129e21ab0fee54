"""The limit again, under bare Starlette: the same statements and bytes as bench/limit_app.py (its methods,
called from Starlette routes), with Starlette's routing, Request and Response objects and nothing else: no
validation, no authorization, no middleware. The issue names either a bare Starlette or a raw ASGI app as the
limit; the benchmark measures both (`limit` is the raw one), so the framework's share is seen against each.

Run: BENCH_DATABASE=path uvicorn bench.limit_starlette:create_app --factory --loop uvloop --http httptools"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.limit_app import PREFIX, LimitApp

ORGANIZATION = "x-com-zoho-expense-organizationid"
MEDIA_TYPE = "application/json;charset=UTF-8"


def create_app() -> Starlette:
    """Factory for `uvicorn --factory` / granian: the database path comes from BENCH_DATABASE."""
    limit = LimitApp(os.environ["BENCH_DATABASE"])

    def reply(status: int, body: bytes) -> Response:
        return Response(body, status_code=status, media_type=MEDIA_TYPE)

    async def collection(request: Request) -> Response:
        org = int(request.headers.get(ORGANIZATION, 0))
        if request.method == "GET":
            return reply(200, limit.list(org, request.url.query))
        body = limit.create(org, await request.body())
        limit.after_write()
        return reply(201, body)

    async def one(request: Request) -> Response:
        org = int(request.headers.get(ORGANIZATION, 0))
        contact_id: int = request.path_params["contact_id"]
        if request.method == "GET":
            return reply(*limit.get(org, contact_id))
        if request.method == "PUT":
            status, body = limit.update(org, contact_id, await request.body())
        else:
            status, body = limit.delete(org, contact_id)
        limit.after_write()
        return reply(status, body)

    return Starlette(
        routes=[
            Route(PREFIX, collection, methods=["GET", "POST"]),
            Route(PREFIX + "/{contact_id:int}", one, methods=["GET", "PUT", "DELETE"]),
        ]
    )
