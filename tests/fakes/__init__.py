"""Local fakes of the platforms the publisher talks to, plus their shared plumbing.

Each fake is an ASGI app (FastAPI) reached through `httpx.ASGITransport`, so connector tests
send real HTTP requests with no network. `PlatformHarness` records every request the fake
receives and can answer the next matching request with an injected fault instead of running
the route. `LossyTransport` simulates the network itself losing a request (before it reaches
the platform) or its answer (after the platform acted).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Fault:
    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class PlatformHarness:
    """Request log and fault plan wrapped around a fake platform's ASGI app."""

    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def inject(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests to (method, path) with this response."""
        self.faults.append(Fault(method.upper(), path, status, body, headers or {}, times))

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.path == path and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def harnessed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            method, path = scope["method"], scope["path"]
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query=parse_qs(scope.get("query_string", b"").decode()),
                    headers=Headers(scope=scope),
                    body=body,
                )
            )
            fault = self._take_fault(method, path)
            if fault is not None:
                response = JSONResponse(fault.body, fault.status, headers=fault.headers)
                await response(scope, receive, send)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return {"type": "http.disconnect"}
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)

        return harnessed


@dataclass
class _Loss:
    method: str
    path: str
    after_send: bool


class LossyTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; on demand drops a request before it leaves (ConnectError) or
    lets the platform act and then loses the answer (ReadTimeout)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self._losses: list[_Loss] = []

    def lose_answer(self, method: str, path: str) -> None:
        self._losses.append(_Loss(method.upper(), path, after_send=True))

    def refuse_connection(self, method: str, path: str) -> None:
        self._losses.append(_Loss(method.upper(), path, after_send=False))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loss = next(
            (x for x in self._losses if x.method == request.method and x.path == request.url.path),
            None,
        )
        if loss is None:
            return await self.inner.handle_async_request(request)
        self._losses.remove(loss)
        if not loss.after_send:
            raise httpx.ConnectError("connection refused (simulated)", request=request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        raise httpx.ReadTimeout("answer lost (simulated)", request=request)


def fixed_resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    """A DNS stand-in for the SSRF guard: host -> addresses; unknown hosts do not resolve."""

    def resolve(host: str, port: int) -> list[str]:
        return list(table.get(host, []))

    return resolve
