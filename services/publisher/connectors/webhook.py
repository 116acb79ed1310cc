"""Webhook connector: POST the variant as JSON, signed per Standard Webhooks.

`webhook-id` is the post's idempotency key, so a retry after an unknown outcome carries the
same id and the receiver drops it as a duplicate (the spec asks receivers to dedupe by id).
There is no way to ask a receiver what it got, so `find_existing` returns None: the worker's
retry is safe precisely because of that dedupe.

Account settings: `url` (the endpoint). Credentials: `secret` (`whsec_` + base64, 24-64 bytes).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from services.publisher.connectors.base import (
    Account,
    Permanent,
    Post,
    Published,
    RefreshedCredentials,
    Retriable,
    Stats,
)
from services.publisher.connectors.http import (
    Clock,
    json_or_empty,
    mapped_errors,
    retry_after_s,
    utc_now,
)
from services.publisher.connectors.ssrf import UnsafeUrl, UrlGuard

EVENT_TYPE = "mediaops.post.published"


def webhook_payload(post: Post, account: Account, *, sent_at: str) -> dict[str, Any]:
    """The JSON body, in the Standard Webhooks envelope {type, timestamp, data}."""
    return {
        "type": EVENT_TYPE,
        "timestamp": sent_at,
        "data": {
            "idempotency_key": post.idempotency_key,
            "account": {"id": account.id, "name": account.name},
            "title": post.title,
            "text": post.text,
            "hashtags": list(post.hashtags),
            "link": post.link,
            # Bytes stay out of the payload; receivers get the references.
            "media": [{k: v for k, v in m.items() if k != "data"} for m in post.media],
        },
    }


def _signer(account: Account) -> Webhook:
    secret = account.credentials.get("secret")
    if not secret:
        raise Permanent("webhook secret missing from credentials")
    try:
        return Webhook(secret)
    except Exception as exc:  # the library raises several types for a bad secret
        raise Permanent(f"webhook secret is not valid whsec_ base64: {exc}") from exc


class WebhookConnector:
    channel = "webhook"

    def __init__(
        self, client: httpx.AsyncClient, *, guard: UrlGuard, clock: Clock = utc_now
    ) -> None:
        self.client = client
        self.guard = guard
        self.clock = clock

    def validate(self, post: Post, account: Account) -> list[str]:
        problems = []
        url = account.settings.get("url")
        if not url:
            problems.append("webhook url missing from account settings")
        try:
            _signer(account)
        except Permanent as exc:
            problems.append(exc.message)
        return problems

    async def publish(self, post: Post, account: Account) -> Published:
        url = account.settings.get("url")
        if not url:
            raise Permanent("webhook url missing from account settings")
        try:
            await self.guard.acheck(url)
        except UnsafeUrl as exc:
            raise Permanent(f"webhook url refused: {exc.reason}") from exc
        signer = _signer(account)
        now = self.clock()
        body = json.dumps(
            webhook_payload(post, account, sent_at=now.isoformat()),
            ensure_ascii=False,
            separators=(",", ":"),
        )
        msg_id = post.idempotency_key
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            # sign() treats the datetime as UTC, so hand it a UTC one.
            "webhook-signature": signer.sign(msg_id, now.astimezone(UTC), body),
        }
        async with mapped_errors("webhook delivery", side_effect=True):
            response = await self.client.post(url, content=body.encode(), headers=headers)
        return self._outcome(response, msg_id, now)

    def _outcome(self, response: httpx.Response, msg_id: str, now: datetime) -> Published:
        status = response.status_code
        detail = {"status": status, "body": response.text[:500]}
        if 200 <= status < 300:
            answer = json_or_empty(response)
            external_id = str(answer.get("id") or msg_id)
            url = answer.get("url") if isinstance(answer.get("url"), str) else None
            return Published(external_id=external_id, url=url, published_at=now, raw=answer)
        if status == 410:
            raise Permanent("webhook endpoint is gone (410); disable it", detail=detail)
        if status == 429 or status >= 500 or status == 408:
            defer = retry_after_s(response, now_epoch=now.timestamp(), default=30.0)
            raise Retriable(f"webhook answered {status}", defer_s=defer, detail=detail)
        if 300 <= status < 400:
            raise Permanent(f"webhook answered a redirect ({status}); not followed", detail=detail)
        raise Permanent(f"webhook refused the delivery ({status})", detail=detail)

    async def find_existing(self, post: Post, account: Account) -> Published | None:
        # No lookup API on a generic receiver; it dedupes by webhook-id instead.
        return None

    async def fetch_stats(self, external_id: str, account: Account) -> Stats:
        return Stats(external_id=external_id, captured_at=self.clock(), values={})

    async def refresh(self, account: Account) -> RefreshedCredentials | None:
        return None
