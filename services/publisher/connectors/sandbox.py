"""Connector for the sandbox platform (`deploy/sandbox`), the simulated social network.

The sandbox honours `Idempotency-Key` per account for 24 h and lists posts by key, so
reconciliation is an exact lookup. Every call also runs under an overall deadline
(`timeout`), which holds even for transports that ignore httpx timeouts (ASGI in tests).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from services.publisher.connectors.base import (
    Account,
    NeedsReauth,
    OutcomeUnknown,
    Permanent,
    Post,
    Published,
    RefreshedCredentials,
    Retriable,
    Stats,
)
from services.publisher.connectors.http import (
    Clock,
    build_client,
    json_or_empty,
    mapped_errors,
    retry_after_s,
    utc_now,
)

MAX_TEXT = 5000
MAX_MEDIA = 4
STAT_NAMES = (
    "impressions",
    "reach",
    "views",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "follows",
)


def handle_of(account: Account) -> str:
    """The author the sandbox records: `settings.handle`, else the publisher's account id."""
    return str(account.settings.get("handle") or account.id)


class SandboxConnector:
    channel = "sandbox"

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient | Callable[[], httpx.AsyncClient] | None = None,
        *,
        timeout: float = 10.0,
        clock: Clock = utc_now,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self._client_or_factory = client
        self._client: httpx.AsyncClient | None = (
            client if isinstance(client, httpx.AsyncClient) else None
        )
        self._owns_client = client is None or not isinstance(client, httpx.AsyncClient)

    @property
    def client(self) -> httpx.AsyncClient:
        # Built on first use, never at import or construction (no event loop needed then).
        if self._client is None:
            factory = self._client_or_factory
            self._client = (
                factory()
                if callable(factory)
                else build_client(timeout=httpx.Timeout(self.timeout))
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def validate(self, post: Post, account: Account) -> list[str]:
        problems = []
        if not post.text.strip() and not post.media:
            problems.append("text is empty")
        if len(post.text) > MAX_TEXT:
            problems.append(f"text is {len(post.text)} characters, the sandbox allows {MAX_TEXT}")
        if len(post.media) > MAX_MEDIA:
            problems.append(f"{len(post.media)} media, the sandbox allows {MAX_MEDIA}")
        return problems

    async def publish(self, post: Post, account: Account) -> Published:
        headers = {"Idempotency-Key": post.idempotency_key, **_auth_header(account)}
        body = {
            "account": handle_of(account),
            "title": post.title,
            "text": post.text,
            "hashtags": list(post.hashtags),
            "media": [_media_ref(m) for m in post.media],
            "link": post.link,
        }
        response = await self._call(
            "sandbox publish", "POST", "/v1/posts", side_effect=True, json=body, headers=headers
        )
        return self._published(json_or_empty(response))

    async def find_existing(self, post: Post, account: Account) -> Published | None:
        """Exact lookup by idempotency key: the sandbox records the key of every post."""
        params = {"account": handle_of(account), "idempotency_key": post.idempotency_key}
        response = await self._call("sandbox lookup", "GET", "/v1/posts", params=params)
        posts = json_or_empty(response).get("posts") or []
        return self._published(posts[0]) if posts else None

    async def fetch_stats(self, external_id: str, account: Account) -> Stats:
        response = await self._call("sandbox stats", "GET", f"/v1/posts/{external_id}/stats")
        data = json_or_empty(response)
        return Stats(
            external_id=external_id,
            captured_at=_parse_time(data.get("captured_at")) or self.clock(),
            values={k: float(data[k]) for k in STAT_NAMES if k in data},
            raw=data,
        )

    async def refresh(self, account: Account) -> RefreshedCredentials | None:
        return None  # sandbox tokens do not expire

    async def fetch_account_stats(self, account: Account) -> dict[str, float]:
        """Account-level figures (followers, posts); optional beyond the Connector protocol."""
        response = await self._call("sandbox account", "GET", f"/v1/accounts/{handle_of(account)}")
        data = json_or_empty(response)
        return {k: float(data[k]) for k in ("followers", "posts") if k in data}

    async def _call(
        self, operation: str, method: str, path: str, *, side_effect: bool = False, **kw: Any
    ) -> httpx.Response:
        try:
            async with asyncio.timeout(self.timeout):
                async with mapped_errors(operation, side_effect=side_effect):
                    response = await self.client.request(method, self.base_url + path, **kw)
        except TimeoutError as exc:
            if side_effect:
                raise OutcomeUnknown(f"{operation}: no answer within {self.timeout}s") from exc
            raise Retriable(f"{operation}: no answer within {self.timeout}s") from exc
        _raise_for_status(operation, response, side_effect=side_effect)
        return response

    def _published(self, data: dict[str, Any]) -> Published:
        if "id" not in data:
            raise OutcomeUnknown("sandbox answered without a post id", detail={"body": data})
        return Published(
            external_id=str(data["id"]),
            url=data.get("url"),
            published_at=_parse_time(data.get("created_at")) or self.clock(),
            raw=data,
        )


def _raise_for_status(operation: str, response: httpx.Response, *, side_effect: bool) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = {"status": status, "body": json_or_empty(response) or response.text[:500]}
    message = f"{operation}: HTTP {status} {json_or_empty(response).get('error', '')}".strip()
    if status == 401:
        raise NeedsReauth(message, detail=detail)
    if status == 429:
        defer = retry_after_s(response, now_epoch=time.time(), default=60.0)
        raise Retriable(message, defer_s=defer, detail=detail)
    if status == 409:  # the same key is being processed right now: ask again shortly
        raise Retriable(message, defer_s=1.0, detail=detail)
    if status == 504 and side_effect:  # a gateway gave up; the platform may have posted
        raise OutcomeUnknown(message, detail=detail)
    if status >= 500:
        defer = retry_after_s(response, now_epoch=time.time(), default=0.0)
        raise Retriable(message, defer_s=defer, detail=detail)
    raise Permanent(message, detail=detail)


def _auth_header(account: Account) -> dict[str, str]:
    token = account.credentials.get("token") or account.credentials.get("access_token")
    return {"Authorization": f"Bearer {token}"} if token else {}


def _media_ref(media: dict[str, Any]) -> dict[str, Any]:
    # The sandbox keeps references, not bytes.
    return {k: v for k, v in media.items() if k != "data"}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
