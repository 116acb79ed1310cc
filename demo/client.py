"""A small typed client over the public HTTP API of the four services and the sandbox.

The same class serves `./run demo` (everything behind one port with path prefixes) and the
end-to-end tests (each service on its own port, no prefix): `Urls` says where each one is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx

Service = Literal["planning", "content", "publisher", "metrics", "sandbox"]
T = TypeVar("T")


@dataclass(frozen=True)
class Urls:
    """Base address of each service (no trailing slash)."""

    planning: str
    content: str
    publisher: str
    metrics: str
    sandbox: str

    @classmethod
    def gateway(cls, base: str) -> Urls:
        """`mediaops up`: one port, the contract's prefixes."""
        base = base.rstrip("/")
        return cls(
            planning=f"{base}/planning",
            content=f"{base}/content",
            publisher=f"{base}/publisher",
            metrics=f"{base}/metrics",
            sandbox=f"{base}/sandbox",
        )

    def of(self, service: Service) -> str:
        return str(getattr(self, service))


class ApiError(AssertionError):
    """An answer the loop did not expect (an AssertionError so pytest shows it plainly)."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{method} {url} -> {status}: {body}")


class TimedOut(AssertionError):
    pass


class Api:
    """One person's view of the API: a bearer token over a shared connection pool."""

    def __init__(self, http: httpx.Client, urls: Urls, token: str | None, who: str) -> None:
        self.http = http
        self.urls = urls
        self.token = token
        self.who = who

    def request(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        expect: Iterable[int] = (200, 201, 202, 204),
    ) -> httpx.Response:
        url = self.urls.of(service) + path
        hdrs = dict(headers or {})
        if self.token and service != "sandbox":
            hdrs["Authorization"] = f"Bearer {self.token}"
        response = self.http.request(method, url, json=json, params=params, headers=hdrs)
        if response.status_code not in tuple(expect):
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text[:500]
            raise ApiError(method, url, response.status_code, body)
        return response

    def get(self, service: Service, path: str, **kw: Any) -> Any:
        return _json(self.request(service, "GET", path, **kw))

    def post(self, service: Service, path: str, body: Any = None, **kw: Any) -> Any:
        return _json(self.request(service, "POST", path, json=body, **kw))

    def put(self, service: Service, path: str, body: Any = None, **kw: Any) -> Any:
        return _json(self.request(service, "PUT", path, json=body, **kw))

    def patch(self, service: Service, path: str, body: Any, etag: str, **kw: Any) -> Any:
        headers = {"If-Match": etag}
        return _json(self.request(service, "PATCH", path, json=body, headers=headers, **kw))

    def etag_of(self, service: Service, path: str) -> tuple[Any, str]:
        """A resource and its ETag (for If-Match)."""
        response = self.request(service, "GET", path)
        return response.json(), response.headers["etag"]


def _json(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def wait_for(
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float,
    interval: float = 0.25,
    progress: Callable[[str], None] | None = None,
    status: Callable[[], str] | None = None,
) -> T:
    """Poll `check` until it answers something truthy; `TimedOut` after `timeout` seconds."""
    started = time.monotonic()
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except ApiError as exc:  # e.g. 409 while an event is still on its way
            last_error = exc
        elapsed = time.monotonic() - started
        if progress is not None:
            extra = f" - {status()}" if status is not None else ""
            progress(f"waiting for {what} ({elapsed:4.1f} s){extra}")
        if elapsed > timeout:
            raise TimedOut(f"{what}: nothing after {timeout:.0f} s (last error: {last_error})")
        time.sleep(interval)
