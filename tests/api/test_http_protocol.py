"""serve's HTTP protocol over a real socket: a request head over 64 KiB gets 431, one that does not arrive in
time gets 408, and ordinary requests (large headers, keep-alive, pipelining, bodies) are served as before."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import uvicorn

from zcontacts import http_protocol
from zcontacts.cli import SERVE_HTTP


async def _echo(
    scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[..., Any]
) -> None:
    """Answers with the request's header bytes and body length; /slow answers after 0.6 s without reading."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(0.6)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"slow"})
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.dumps({"headers": sum(len(n) + len(v) for n, v in scope["headers"]), "body": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    config = uvicorn.Config(
        _echo, host="127.0.0.1", port=0, http=SERVE_HTTP, log_level="error", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(10)


def _exchange(port: int, *chunks: bytes, pause: float = 0.0) -> bytes:
    """Send the chunks (pausing after each), then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            for chunk in chunks:
                connection.sendall(chunk)
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused part-way: what it answered is still there to read
        received = b""
        while data := connection.recv(65536):
            received += data
        return received


def _head(extra: bytes = b"", close: bool = True) -> bytes:
    return b"GET /x HTTP/1.1\r\nhost: t\r\n" + extra + (b"connection: close\r\n" if close else b"") + b"\r\n"


def test_ordinary_requests_are_served(port: int) -> None:
    big = b"x-big: " + b"a" * 40_000 + b"\r\n"
    answer = _exchange(port, _head(big))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    # The same head over 80 reads; then two pipelined requests and a POST with a body on one connection.
    head = _head(big)
    answer = _exchange(port, *[head[i : i + 512] for i in range(0, len(head), 512)], pause=0.001)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    post = (
        b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 100000\r\nconnection: close\r\n\r\n" + b"b" * 100_000
    )
    answer = _exchange(port, _head(close=False) + _head(close=False) + post)
    assert answer.count(b"HTTP/1.1 200") == 3, answer
    assert b'"body": 100000' in answer


def test_a_head_over_the_limit_is_431_and_closes(port: int) -> None:
    start = b"GET /x HTTP/1.1\r\nhost: t\r\nx-big: "
    answer = _exchange(port, start, *[b"a" * 16_384] * 8, pause=0.05)
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 431"), answer[:200]
    assert json.loads(body) == {"code": 2, "message": "The request's headers are too large."}


def test_a_head_that_does_not_arrive_in_time_is_408(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_protocol, "HEAD_SECONDS", 0.3)
    answer = _exchange(port, b"GET /x HTTP/1.1\r\nhost: t\r\n")  # and then nothing
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:200]
    assert answer.endswith(b'{"code":2,"message":"The request\'s headers did not arrive in time."}')
    assert _exchange(port) == b""  # a connection that sends nothing at all: closed without an answer
    # A head that completes in time, after a pause, is served.
    answer = _exchange(port, b"GET /x HTTP/1.1\r\nhost: t\r\n", b"connection: close\r\n\r\n", pause=0.1)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_a_refusal_comes_after_the_responses_owed_before_it(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipelined behind a slow request (which never reads its body, so uvicorn pauses reading), a head that
    stalls or grows too large is refused only once the earlier requests are answered, in order."""
    monkeypatch.setattr(http_protocol, "HEAD_SECONDS", 0.3)
    earlier = b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\nGET /x HTTP/1.1\r\nhost: t\r\n\r\n"
    answer = _exchange(port, earlier + b"GET /x HTTP/1.1\r\nho", b"st: t\r\n", pause=0.05)
    assert re.findall(rb"HTTP/1\.1 (\d{3})", answer) == [b"200", b"200", b"408"], answer
    answer = _exchange(port, b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\nGET /x HTTP/1.1\r\nx-big: ",
                       *[b"a" * 16_384] * 6, pause=0.02)  # fmt: skip
    assert re.findall(rb"HTTP/1\.1 (\d{3})", answer) == [b"200", b"431"], answer
