"""uvicorn's httptools protocol with bounds on a request's head (its request line and headers).

httptools sets no limit on a head and buffers each header until it ends: one 200 MB header held a served process
for a minute (and 450 MB of memory) while every other client waited, and a client trickling header lines, or
sending nothing at all, kept its connection for ever (uvicorn's keep-alive timer stops at the first byte). h11
caps a head at 16 KiB. Here a head that goes on for more than MAX_HEAD_BYTES past the read it began in is
answered 431 (a read is at most the loop's 256 KiB buffer, so no head is held past about two reads and
64 KiB; one that arrives whole in a single read is taken), and one not complete HEAD_SECONDS after the
connection opened, or after the first read that left it incomplete (later reads do not restart the clock), is
answered 408; both close the connection, after any response still owed to an earlier request
on it. A connection that sends nothing at all is closed after HEAD_SECONDS without an answer.

A request whose head arrives in one read (nearly all of them) pays three overridden callbacks and a few
attribute writes; the count and the timer start only when a read ends inside a head."""

from __future__ import annotations

from asyncio import TimerHandle, Transport
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from zcontacts.api.responses import JSON, message_body
from zcontacts.errors import HeadersTimedOut, HeadersTooLarge, ZohoError

MAX_HEAD_BYTES = 64 * 1024
HEAD_SECONDS = 30.0
LINGER_SECONDS = 2.0


def _response(error: ZohoError) -> bytes:
    """The whole HTTP response of a refusal, written before any ASGI cycle exists."""
    body = message_body(error.code, error.message)
    status = HTTPStatus(error.status)
    line = f"{status.value} {status.phrase}".encode()
    return (
        b"HTTP/1.1 " + line + b"\r\ncontent-type: " + JSON.encode() + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


TOO_LARGE = _response(HeadersTooLarge())
TIMED_OUT = _response(HeadersTimedOut())


class Protocol(HttpToolsProtocol):
    """`serve`'s HTTP/1.1 protocol (uvicorn's `http=`): httptools with a bounded head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_head = False  # between a message's first byte and the end of its headers
        self.head_bytes = 0  # of the current head, counted from the first read after the one it began in
        self.head_timer: TimerHandle | None = None
        self.refusal: bytes | None = None  # to send once the responses owed before it are sent; b"": sent
        self.linger: TimerHandle | None = None

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.linger is not None:
            self.linger.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refusal is not None:
            return  # the head being refused: nothing more of it is read
        continuing = self.in_head
        super().data_received(data)
        if not self.in_head or self.transport.is_closing():
            return
        # The read a head began in is not counted: it may hold the end of an earlier request too, and one read
        # is at most the transport's buffer. Every later read of the same head is.
        if continuing:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._refuse(TOO_LARGE)
                return
        if self.head_timer is None:
            self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_bytes = 0

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.head_timer is not None:
            self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.refusal and not self._answering() and not self.transport.is_closing():
            self._send_and_close(self.refusal)

    def _answering(self) -> bool:
        """True while a request read earlier on this connection is still owed (all or part of) its response."""
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _arm(self) -> None:
        self.head_timer = self.loop.call_later(HEAD_SECONDS, self._expired)

    def _disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _expired(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self._answering():
            self._arm()  # reading waits for that response (uvicorn pauses it): the head's clock waits too
        elif self.in_head:
            self._refuse(TIMED_OUT)
        else:
            self.transport.close()  # never sent a byte: closed as an idle keep-alive connection is, silently

    def _refuse(self, response: bytes) -> None:
        """Answer the head with `response` and close, after any response still owed to an earlier request (it
        would otherwise be taken for that request's answer, and that request's own would fail)."""
        self._disarm()
        if self._answering():
            self.refusal = response
            self.flow.pause_reading()
            return
        self._send_and_close(response)

    def _send_and_close(self, response: bytes) -> None:
        """Send the refusal, then close gently: shut our side and read (and drop) what the client still sends
        for LINGER_SECONDS. Closing with its bytes unread would reset the connection, and a reset can destroy
        the refusal before the client reads it."""
        self.transport.write(response)
        self.refusal = b""  # sent: what arrives from now on is dropped
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.flow.resume_reading()
        self.linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)
