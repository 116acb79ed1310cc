"""A small TCP fault proxy: listen on a free port, forward to a real server, and misbehave on
demand, so a test can take PostgreSQL or RabbitMQ "away" from our processes without touching
the shared servers.

Modes (switch at any time, from any thread):
- `pass`       forward both ways;
- `refuse`     the listening socket is closed: new connections get ECONNREFUSED (open ones
               keep working until `cut()`);
- `blackhole`  accept, never answer: bytes in either direction are swallowed;
- `delay`      forward, each chunk held back `delay_s`.

`cut()` resets every open connection (both sides see the peer vanish). The proxy runs its own
event loop in a daemon thread, so tests may block (subprocesses, sync HTTP) while it works.

    proxy = FaultProxy("127.0.0.1", 5432).start()
    url = proxy.rewrite("postgresql://postgres@127.0.0.1:5432/db")  # same URL, proxy's port
    proxy.set_mode("refuse"); proxy.cut()      # the server is "down"
    proxy.set_mode("pass")                     # and back
    proxy.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Mode = Literal["pass", "refuse", "blackhole", "delay"]
CHUNK = 65536


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FaultProxy:
    def __init__(
        self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = port or _free_port()
        self.mode: Mode = "pass"
        self.delay_s = 0.0
        self.accepted = 0  # connections accepted since start (for assertions)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._ready = threading.Event()

    @classmethod
    def for_url(cls, url: str) -> FaultProxy:
        parts = urlsplit(url)
        default = {"postgresql": 5432, "postgres": 5432, "amqp": 5672}.get(parts.scheme, 0)
        return cls(parts.hostname or "127.0.0.1", parts.port or default)

    def rewrite(self, url: str) -> str:
        """`url` with its host:port replaced by the proxy's."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo + '@' if userinfo else ''}{self.host}:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name="faultproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("fault proxy did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._listen())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    def stop(self) -> None:
        if self._loop is None:
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _call(self, coro: object, timeout: float = 5) -> object:
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        return fut.result(timeout)

    # -- faults ------------------------------------------------------------------------

    def set_mode(self, mode: Mode, delay_s: float = 0.0) -> None:
        self._call(self._set_mode(mode, delay_s))

    def cut(self) -> int:
        """Reset every open connection; returns how many were cut."""
        return int(self._call(self._cut()))  # type: ignore[call-overload]

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    async def _set_mode(self, mode: Mode, delay_s: float) -> None:
        self.delay_s = delay_s
        self.mode = mode
        if mode == "refuse":
            await self._close_listener()
        elif self._server is None:
            await self._listen()

    async def _cut(self) -> int:
        conns = list(self._conns)
        for client, upstream in conns:
            for w in (client, upstream):
                if w is not None:
                    w.transport.abort()
        self._conns.clear()
        return len(conns)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True
        )

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _shutdown(self) -> None:
        await self._close_listener()
        await self._cut()

    # -- forwarding --------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        entry: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._conns.add(entry)
        try:
            if self.mode == "blackhole":
                # Swallow until the client gives up (or the mode changes and it is cut).
                while await reader.read(CHUNK):
                    pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.transport.abort()
                return
            self._conns.discard(entry)
            entry = (writer, up_writer)
            self._conns.add(entry)
            await asyncio.gather(
                self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
            )
        finally:
            self._conns.discard(entry)
            for w in entry:
                if w is not None:
                    w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if self.mode == "blackhole":
                    continue
                if self.mode == "delay" and self.delay_s > 0:
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
