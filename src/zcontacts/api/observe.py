"""The outermost layer of every HTTP request: a request id (the client's `X-Request-Id` when sane, else a new
one) echoed in the response with the rate-limit headers of a counted request, one JSON access-log line, and the
request counted in /metrics. The common case of the two hot reads is answered here by the fast path
(api/fast_path.py) without entering the framework.

A plain ASGI wrapper around Litestar's handler rather than a Litestar middleware, so that requests no route
matched (404, 405) are logged and counted too. Litestar's router leaves the matched route's template in the
scope (`path_template`), which labels the metrics and the log."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

from zcontacts.api.context import as_requested, route_as_routed
from zcontacts.api.metrics import UNMATCHED, Metrics
from zcontacts.api.ratelimit import SCOPE_KEY, Budget
from zcontacts.logs import ACCESS_LOGGER, access_record

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from zcontacts.api.fast_path import FastPath

REQUEST_ID_HEADER = b"x-request-id"
# Scope keys: the request id (for error logs), and the organization a verified token addressed.
REQUEST_ID_KEY = "zcontacts.request_id"
ORGANIZATION_KEY = "zcontacts.organization_id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
access_log = logging.getLogger(ACCESS_LOGGER)


class _RequestIds:
    """New request ids: 32 hex digits, a random per-process half and a counter, unique across processes and
    restarts without a system call per request (as secrets.token_hex would make)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # a forked worker gets its own prefix

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def new(self) -> bytes:
        return f"{self.prefix}{next(self.counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}".encode()


_ids = _RequestIds()


def request_id_of(headers: Any) -> bytes:
    """The client's request id if it is short and plain (≤ 128 of A–Z a–z 0–9 . _ -), else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.fullmatch(value):
                return bytes(value)
            break
    return _ids.new()


def added_headers(scope: Scope, request_id: bytes) -> list[tuple[bytes, bytes]]:
    """What every response gets on top of its own headers: the rate-limit budget of a counted request, the
    request id."""
    budget: Budget | None = scope.get(SCOPE_KEY)  # type: ignore[assignment]
    if budget is None:
        return [(REQUEST_ID_HEADER, request_id)]
    return [*budget.headers(), (REQUEST_ID_HEADER, request_id)]


class RequestObserver:
    """Wraps an ASGI app: request ids, rate-limit headers, access log, metrics; the hot reads through `fast`
    when it answers."""

    def __init__(self, app: ASGIApp, metrics: Metrics, fast: FastPath | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.fast = fast

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request through the fast path or the wrapped app, observing it."""
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]  # type: ignore[typeddict-item]
        head = method == "HEAD"
        if head:
            # HEAD is GET without the body (RFC 9110 §9.3.2): the app answers a GET, the body is dropped here.
            # A copy, so the server's own scope still says HEAD (uvicorn then sends no body either).
            scope = {**scope, "method": "GET"}  # type: ignore[assignment]
        request_id = request_id_of(scope["headers"])
        scope[REQUEST_ID_KEY] = request_id.decode()  # type: ignore[literal-required]
        status = 500
        try:
            answer = await self.fast.answer(scope, receive) if self.fast is not None else None
            if answer is None:
                route_as_routed(scope)

                async def observed_send(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                        message["headers"] = [*message.get("headers", ()), *added_headers(scope, request_id)]
                    elif head:
                        message = {**message, "body": b""}  # type: ignore[assignment]
                    await send(message)

                await self.app(scope, receive, observed_send)
            else:
                status, headers, body = answer
                headers += added_headers(scope, request_id)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": b"" if head else body, "more_body": False})
        finally:
            seconds = time.perf_counter() - started
            template: str | None = scope.get("path_template")
            route = as_requested(scope, template) if template else UNMATCHED
            self.metrics.observe(route, method, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.handle(
                    access_record(
                        {
                            "request_id": scope[REQUEST_ID_KEY],  # type: ignore[literal-required]
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(seconds * 1000, 3),
                            "organization_id": scope.get(ORGANIZATION_KEY),
                        }
                    )
                )
