"""A lean HTTP/1.1 keep-alive transport for httpx, for one operator-configured plain-HTTP host.

Why: the dispatch workers call the sandbox platform (`MEDIAOPS_SANDBOX_URL`, an internal
service, never a user URL) at hundreds of calls per second per process. httpcore's pool
scans every pooled connection (a `select()` per connection) on each request and runs the
h11 state machine over anyio streams: measured here 1.8-3.0 ms of client CPU per request
(8-32 connections) against 0.3-0.4 ms with this transport (`bench/publisher_throughput.py`
shows the effect on the whole pipeline). httpx's client layer (URL, headers, Response) is
unchanged, so connectors and `mapped_errors` see the same request/response objects and
exception classes:
  - could not connect (nothing sent)        -> httpx.ConnectError (retriable)
  - failure after the request was written   -> httpx.ReadError / RemoteProtocolError
    (for a side effect: outcome unknown, reconciled, never retried blindly)
Idle connections are reused newest first and dropped after `keepalive_expiry` (below the
server's keep-alive timeout: uvicorn closes after 5 s) or once the server closed them.
A connection that was reused and answered nothing at all is not retried: the caller's
error classes decide (a POST might have been processed).
Only `http://` with Content-Length or chunked responses; anything else goes to the regular
httpx transport (`fallback`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import Any

import httpx

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        max_connections: int = 16,
        keepalive_expiry: float = 4.0,
        fallback: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, int], list[_Conn]] = defaultdict(list)
        self._fallback = fallback or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            return await self._fallback.handle_async_request(request)
        body = await request.aread()
        key = (url.host, url.port or 80)
        head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1"]
        has_host = has_length = False
        for name, value in request.headers.raw:
            lname = name.lower()
            has_host = has_host or lname == b"host"
            has_length = has_length or lname == b"content-length"
            if lname == b"transfer-encoding":
                continue  # the body is read whole above
            head.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
        if not has_host:
            head.append(f"Host: {url.netloc.decode('ascii')}")
        if body and not has_length:
            head.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        # The client's timeouts (httpx passes them in the request): pool, connect, and read,
        # the last one here bounding the whole answer rather than each read of it.
        timeouts = request.extensions.get("timeout") or {}
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), timeouts.get("pool"))
            except TimeoutError as exc:
                raise httpx.PoolTimeout("no free connection in time", request=request) from exc
        else:
            await self._slots.acquire()  # free now: no timer for the common case
        try:
            reader, writer = await self._connection(key, timeouts.get("connect"), request)
            keep = False
            try:
                writer.write(payload)
                async with asyncio.timeout(timeouts.get("read")):
                    status, headers, content, keep = await _read_response(reader)
            except httpx.TransportError:
                raise
            except TimeoutError as exc:
                raise httpx.ReadTimeout("no complete answer in time", request=request) from exc
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
            finally:
                if keep:
                    self._idle[key].append((reader, writer, time.monotonic()))
                else:
                    writer.close()
        finally:
            self._slots.release()
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _connection(
        self, key: tuple[str, int], timeout: float | None, request: httpx.Request
    ) -> tuple[asyncio.StreamReader, Any]:
        idle = self._idle[key]
        now = time.monotonic()
        while idle:
            reader, writer, since = idle.pop()
            if now - since < self.keepalive_expiry and not reader.at_eof():
                return reader, writer
            writer.close()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(key[0], key[1]), timeout
            )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("no connection in time", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return reader, writer

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for _r, writer, _t in conns:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        self._idle.clear()
        await self._fallback.aclose()


async def _read_response(
    reader: asyncio.StreamReader,
) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    line = await reader.readline()
    if not line:
        raise httpx.RemoteProtocolError("server closed the connection without a response")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise httpx.RemoteProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    status = int(parts[1])
    keep = parts[0] == b"HTTP/1.1"
    headers: list[tuple[bytes, bytes]] = []
    length: int | None = None
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise httpx.RemoteProtocolError("connection closed inside the response headers")
        name, _, value = line.partition(b":")
        name, value = name.strip(), value.strip()
        headers.append((name, value))
        lname = name.lower()
        if lname == b"content-length":
            length = int(value)
        elif lname == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif lname == b"connection":
            v = value.lower()
            keep = b"keep-alive" in v if not keep else b"close" not in v
    if status < 200 or status in (204, 304):
        content = b""
    elif chunked:
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        content = b"".join(chunks)
    elif length is not None:
        content = await reader.readexactly(length)
    else:
        content, keep = await reader.read(), False  # delimited by the server closing
    # httpx must not decode the body a second time by these framing headers.
    headers = [(n, v) for n, v in headers if n.lower() != b"transfer-encoding"]
    return status, headers, content, keep
