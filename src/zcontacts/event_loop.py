"""The event loop `zcontacts serve` runs: uvloop, accepting every connection waiting in the listen queue at once.

libuv (under uvloop, since libuv 1.45: libuv/libuv#3696) accepts one connection per loop turn and leaves the rest
in the kernel's queue for the next turns. On a busy server a turn lasts as long as the requests it answers (10 ms
at 64 connections here), so a burst of new connections is let in one turn at a time: a client opening 64 got its
last connection accepted 0.3–0.4 s later, and those first requests were the whole p99 of a benchmark run
(docs/PERFORMANCE.md). asyncio's own loop accepts up to the backlog per turn; this restores that: whenever uvloop
accepts a connection, the rest of the queue is accepted too, through a duplicate of the listening socket, and
handed to the same protocol factory. Only plain TCP servers are drained (uvicorn's for `zcontacts serve`); a TLS or
Unix-socket server keeps uvloop's behaviour."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import uvloop

log = logging.getLogger("zcontacts")

# At most this many connections accepted per drain (asyncio's default backlog), so a flood cannot hold the loop.
MAX_ACCEPTS = 100


class Loop(uvloop.Loop):
    """uvloop whose TCP servers accept every pending connection per turn (see the module docstring)."""

    async def create_server(
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], *args: Any, **kwargs: Any
    ) -> Any:
        if kwargs.get("ssl") is not None:
            return await super().create_server(protocol_factory, *args, **kwargs)
        drain = _Drain(self, protocol_factory)
        server: Any = await super().create_server(drain.protocol, *args, **kwargs)
        drain.listen(server.sockets)
        return _Server(server, drain)


def new_event_loop() -> Loop:
    """The loop factory uvicorn calls (`loop="zcontacts.event_loop:new_event_loop"`)."""
    return Loop()


class _Drain:
    """Accepts what waits in the listen queue each time uvloop accepts one connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol_factory: Callable[[], asyncio.BaseProtocol]):
        self.loop = loop
        self.protocol_factory = protocol_factory
        self.sockets: list[socket.socket] = []
        self.scheduled = False

    def listen(self, server_sockets: Any) -> None:
        for each in server_sockets or ():
            if each.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            duplicate = socket.socket(each.family, socket.SOCK_STREAM, fileno=os.dup(each.fileno()))
            duplicate.setblocking(False)
            self.sockets.append(duplicate)

    def protocol(self) -> asyncio.BaseProtocol:
        """uvloop accepted a connection: serve it, and accept the others waiting before the loop turns."""
        if self.sockets and not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.accept_waiting)
        return self.protocol_factory()

    def accept_waiting(self) -> None:
        self.scheduled = False
        for listening in self.sockets:
            for _ in range(MAX_ACCEPTS):
                try:
                    connection, _ = listening.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    break
                except OSError:  # out of file descriptors, …: uvloop's own accept meets it and reports it
                    log.warning("could not accept a waiting connection", exc_info=True)
                    break
                connection.setblocking(False)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.loop.create_task(self._serve(connection))

    async def _serve(self, connection: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, connection)
        except OSError:  # the client left before its transport was set up
            connection.close()

    def close(self) -> None:
        for each in self.sockets:
            each.close()
        self.sockets = []


class _Server:
    """uvloop's server, closing the drain's duplicates of its sockets with it."""

    def __init__(self, server: Any, drain: _Drain) -> None:
        self._server = server
        self._drain = drain

    def close(self) -> None:
        self._drain.close()
        self._server.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)
