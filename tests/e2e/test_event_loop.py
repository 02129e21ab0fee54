"""The serving loop (zcontacts/event_loop.py): on a busy loop, a burst of new connections is accepted in one turn,
not one per turn as libuv does; every connection so accepted is served; closing the server stops the listening."""

from __future__ import annotations

import asyncio
import socket
import sys
import time

import pytest

from zcontacts.cli import event_loop_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not run on Windows")

CLIENTS = 24
TURN = 0.04  # seconds each turn of the busy loop lasts


class Echo(asyncio.Protocol):
    accepted: list[float]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.accepted.append(time.monotonic())
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


async def burst(loop: asyncio.AbstractEventLoop) -> tuple[float, list[bytes], int]:
    """Turns the busy loop took to accept CLIENTS connections made at once, their echoes, and the port."""
    accepted: list[float] = []
    protocol = type("Recording", (Echo,), {"accepted": accepted})
    server = await loop.create_server(protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    busy = True

    def block() -> None:  # a turn spent answering requests
        time.sleep(TURN)
        if busy:
            loop.call_soon(block)

    # Blocking connects: the kernel completes each handshake; accepting them is the loop's part.
    clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(CLIENTS)]
    started = time.monotonic()
    loop.call_soon(block)
    try:
        while len(accepted) < CLIENTS and time.monotonic() - started < 10:
            await asyncio.sleep(0)
        turns = (max(accepted) - started) / TURN

        def echo(client: socket.socket) -> bytes:
            client.sendall(b"ping")
            return client.recv(16)

        echoes = await asyncio.gather(*(loop.run_in_executor(None, echo, c) for c in clients))
    finally:
        busy = False
        for client in clients:
            client.close()
        server.close()
        await server.wait_closed()
    return turns, echoes, port


def run_burst(loop: asyncio.AbstractEventLoop) -> tuple[float, list[bytes], int]:
    try:
        return loop.run_until_complete(burst(loop))
    finally:
        loop.close()


def test_a_burst_of_connections_is_accepted_in_a_turn_or_two_and_every_one_is_served() -> None:
    from zcontacts.event_loop import new_event_loop

    turns, echoes, _ = run_burst(new_event_loop())
    assert echoes == [b"ping"] * CLIENTS
    # libuv alone takes a turn per connection (CLIENTS turns here, ~1 s).
    assert turns < 4, f"{CLIENTS} connections took {turns:.1f} turns to accept"


def test_a_closed_server_listens_no_more() -> None:
    from zcontacts.event_loop import new_event_loop

    *_, port = run_burst(new_event_loop())
    # The drain's duplicate of the listening socket is closed with the server.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_serve_drains_with_one_process_and_leaves_workers_to_share() -> None:
    assert event_loop_for(1) == "zcontacts.event_loop:new_event_loop"
    assert event_loop_for(4) == "uvloop"
