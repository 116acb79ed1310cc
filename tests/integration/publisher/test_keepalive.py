"""The sandbox's lean keep-alive transport against scripted local HTTP servers: framing,
reuse, servers that close, and the httpx error classes the connectors map from."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from services.publisher.connectors.base import OutcomeUnknown, Retriable
from services.publisher.connectors.http import mapped_errors
from services.publisher.keepalive import KeepAliveTransport

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    line = await reader.readline()
    headers: dict[bytes, bytes] = {}
    while (h := await reader.readline()) not in (b"\r\n", b""):
        k, _, v = h.partition(b":")
        headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return line, headers, body


@contextlib.asynccontextmanager
async def server(script: Script) -> AsyncIterator[tuple[str, list[int]]]:
    """Serves `script` per connection; yields the base URL and a list of connection ids."""
    conns: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(len(conns))
        try:
            await script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", conns
    finally:
        srv.close()
        await srv.wait_closed()


async def echo_keepalive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        line, _headers, body = await read_request(reader)
        if not line:
            return
        out = b'{"got": "' + body + b'", "path": "' + line.split()[1] + b'"}'
        writer.write(
            b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(out)).encode() + b"\r\n\r\n" + out
        )
        await writer.drain()


async def test_content_length_keepalive_reuses_one_connection() -> None:
    async with server(echo_keepalive) as (url, conns):
        async with httpx.AsyncClient(transport=KeepAliveTransport(max_connections=4)) as c:
            for i in range(5):
                r = await c.post(f"{url}/v1/posts?x={i}", content=f"b{i}".encode())
                assert r.status_code == 201
                assert r.json() == {"got": f"b{i}", "path": f"/v1/posts?x={i}"}
                assert r.headers["content-type"] == "application/json"
        assert len(conns) == 1


async def test_concurrent_calls_are_bounded_by_max_connections() -> None:
    async with server(echo_keepalive) as (url, conns):
        async with httpx.AsyncClient(transport=KeepAliveTransport(max_connections=3)) as c:
            rs = await asyncio.gather(*(c.post(url + "/", content=b"x") for _ in range(30)))
        assert all(r.status_code == 201 for r in rs)
        assert 1 <= len(conns) <= 3


async def test_chunked_and_close_delimited_bodies() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
        )
        await read_request(reader)  # still alive for a second request
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
        await writer.drain()

    async with server(chunked) as (url, conns):
        async with httpx.AsyncClient(transport=KeepAliveTransport()) as c:
            r = await c.get(url + "/a")
            assert r.content == b"hello world" and "transfer-encoding" not in r.headers
            r = await c.get(url + "/b")
            assert r.content == b"until close"
            r = await c.get(url + "/c")  # the HTTP/1.0 one was not kept: a new connection
            assert r.content == b"hello world"
        assert len(conns) == 2


async def test_server_closing_idle_connection_is_not_reused() -> None:
    async def one_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        # then closes (keep-alive timeout on the server side)

    async with server(one_per_connection) as (url, conns):
        async with httpx.AsyncClient(transport=KeepAliveTransport()) as c:
            for _ in range(3):
                assert (await c.get(url)).text == "ok"
                await asyncio.sleep(0.02)  # the FIN arrives before the next call
        assert len(conns) == 3


async def test_expired_idle_connections_are_dropped() -> None:
    async with server(echo_keepalive) as (url, conns):
        transport = KeepAliveTransport(keepalive_expiry=0.01)
        async with httpx.AsyncClient(transport=transport) as c:
            await c.post(url, content=b"a")
            await asyncio.sleep(0.05)
            await c.post(url, content=b"b")
        assert len(conns) == 2


async def test_error_classes_map_to_retriable_or_unknown() -> None:
    # nothing listening: could not connect -> retriable even for a side effect
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    async with httpx.AsyncClient(transport=KeepAliveTransport()) as c:
        with pytest.raises(Retriable):
            async with mapped_errors("post", side_effect=True):
                await c.post(f"http://127.0.0.1:{port}/", content=b"x")

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)  # read the request, then close without answering

    async def half_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await writer.drain()

    for script in (hang_up, half_answer):
        async with server(script) as (url, _conns):
            async with httpx.AsyncClient(transport=KeepAliveTransport()) as c:
                with pytest.raises(OutcomeUnknown):
                    async with mapped_errors("post", side_effect=True):
                        await c.post(url, content=b"x")


async def test_cancelled_call_closes_its_connection() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(1)

    async with server(slow) as (url, _conns):
        transport = KeepAliveTransport()
        async with httpx.AsyncClient(transport=transport) as c:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await c.post(url, content=b"x")
            assert not any(transport._idle.values())


async def test_https_goes_to_the_fallback_transport() -> None:
    seen: list[str] = []

    async def fallback(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(204)

    transport = KeepAliveTransport(fallback=httpx.MockTransport(fallback))
    async with httpx.AsyncClient(transport=transport) as c:
        assert (await c.get("https://example.invalid/x")).status_code == 204
    assert seen == ["https://example.invalid/x"]


async def silent_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(30)  # the answer never comes in time


async def test_the_clients_timeouts_bound_a_call_and_map_to_the_right_errors() -> None:
    """httpx hands its timeouts to the transport: an answer that does not come is a
    ReadTimeout (sent: outcome unknown for a side effect), a pool with no free connection is
    a PoolTimeout (nothing sent: retriable), and the silent connection is not reused."""
    transport = KeepAliveTransport(max_connections=1)
    async with server(silent_after_request) as (url, conns):
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(0.3)) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(OutcomeUnknown):
                async with mapped_errors("post", side_effect=True):
                    await client.post(f"{url}/v1/posts", content=b"{}")
            assert 0.25 <= loop.time() - started < 2

            # one connection, held by a call that waits: the next call's pool wait times out
            held = asyncio.create_task(client.get(f"{url}/slow", timeout=1.5))
            await asyncio.sleep(0.05)
            started = loop.time()
            with pytest.raises(Retriable):
                async with mapped_errors("post", side_effect=True):
                    await client.post(f"{url}/v1/posts", content=b"{}")
            assert 0.25 <= loop.time() - started < 2
            with pytest.raises(httpx.ReadTimeout):
                await held
        assert len(conns) == 2  # the timed-out connection was closed, not reused
    await transport.aclose()
