"""Pure ASGI middleware (no BaseHTTPMiddleware overhead): request id, body limit, metrics,
access log and a per-token write rate limit."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.context import request_id_var, traceparent_var

log = logging.getLogger("mediaops.http")

REQUESTS = Counter(
    "mediaops_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "mediaops_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def _problem(status: int, title: str, detail: str, headers: list[tuple[bytes, bytes]]) -> tuple:
    body = json.dumps(
        {
            "type": f"https://mediaops.dev/problems/{title.lower().replace(' ', '-')}",
            "title": title,
            "status": status,
            "detail": detail,
        }
    ).encode()
    return body, [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        write_rate_per_minute: int,
        body_limit_exempt: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.service = service
        self.max_body = max_body_bytes
        self.exempt = body_limit_exempt
        self.rate = write_rate_per_minute / 60.0
        self.burst = max(10.0, write_rate_per_minute / 6)
        self._buckets: dict[str, tuple[float, float]] = {}
        # Metric children per (method, route, status): `labels()` costs ~5 us a request.
        self._metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        key = (method, route, status)
        children = self._metrics.get(key)
        if children is None:
            if len(self._metrics) > 10_000:  # bounded: routes are templates, methods a few
                self._metrics.clear()
            children = (
                REQUESTS.labels(self.service, method, route, str(status)),
                LATENCY.labels(self.service, method, route),
            )
            self._metrics[key] = children
        children[0].inc()
        children[1].observe(elapsed)

    def _access_log(self, method: str, path: str, status: int, elapsed: float) -> None:
        # The record is built directly: Logger.info's caller lookup (a stack walk) is not
        # needed for an access line; level, filters and handlers apply as before.
        if not log.isEnabledFor(logging.INFO):
            return
        record = log.makeRecord(
            log.name,
            logging.INFO,
            __file__,
            0,
            "%s %s %s",
            (method, path, status),
            None,
            extra={"service": self.service, "status": status, "ms": round(elapsed * 1000, 2)},
        )
        log.handle(record)

    def _take(self, key: str) -> float:
        """Token bucket per bearer token; returns seconds to wait (0 = allowed)."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or uuid.uuid4().hex
        tp = headers.get(b"traceparent", b"").decode("latin-1")[:100] or None
        rid_token = request_id_var.set(rid)
        tp_token = traceparent_var.set(tp)
        method = scope["method"]
        started = time.perf_counter()
        status_holder = {"status": 500}
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], rid_header]
            await send(message)

        try:
            path = scope.get("path", "")
            limit = self.max_body
            if not any(path.endswith(e) for e in self.exempt):
                declared = headers.get(b"content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    body, hdrs = _problem(
                        413, "Payload Too Large", f"request body over {limit} bytes", [rid_header]
                    )
                    await send({"type": "http.response.start", "status": 413, "headers": hdrs})
                    await send({"type": "http.response.body", "body": body})
                    status_holder["status"] = 413
                    return
                receive = _limited_receive(receive, limit)
            if method in WRITE_METHODS:
                auth = headers.get(b"authorization")
                if auth:
                    wait = self._take(auth.decode("latin-1"))
                    if wait > 0:
                        retry = str(max(1, int(wait + 0.999)))
                        body, hdrs = _problem(
                            429,
                            "Too Many Requests",
                            "write rate limit reached for this token",
                            [rid_header, (b"retry-after", retry.encode())],
                        )
                        await send({"type": "http.response.start", "status": 429, "headers": hdrs})
                        await send({"type": "http.response.body", "body": body})
                        status_holder["status"] = 429
                        return
            await self.app(scope, receive, send_wrapper)
        except _BodyTooLarge:
            body, hdrs = _problem(
                413, "Payload Too Large", f"request body over {self.max_body} bytes", [rid_header]
            )
            await send({"type": "http.response.start", "status": 413, "headers": hdrs})
            await send({"type": "http.response.body", "body": body})
            status_holder["status"] = 413
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            status = status_holder["status"]
            self._observe(method, route, status, elapsed)
            if route not in _QUIET_ROUTES:
                self._access_log(method, scope.get("path", ""), status, elapsed)
            request_id_var.reset(rid_token)
            traceparent_var.reset(tp_token)


class _BodyTooLarge(HTTPException):
    """An HTTPException so FastAPI's body parser re-raises it (any other error becomes 400)."""

    def __init__(self) -> None:
        super().__init__(413, "request body over the size limit")


def _limited_receive(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
        return message

    return wrapped


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
