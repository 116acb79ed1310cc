"""Fan-out (events -> delivery rows) and the sender (rows -> signed HTTP POSTs).

Fan-out consumes its own queue `publisher.webhooks`, bound to every event, so webhook traffic
never slows the publisher's own event queue; a delivery row per (subscription, event) is
unique, which makes redelivered events harmless. The sender claims due rows with
`FOR UPDATE SKIP LOCKED` (replicas safe), records every attempt, and retries on the schedule
of `domain.RETRY_SCHEDULE`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from standardwebhooks.webhooks import Webhook

from services.publisher.bootstrap import credential_box
from services.publisher.connectors.ssrf import UnsafeUrl, UrlGuard
from services.publisher.webhooks import domain
from services.publisher.webhooks.tables import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from shared.bus import Delivery, PoisonMessage, Subscription
from shared.events import COMMANDS, CloudEvent
from shared.service import ServiceContext

log = logging.getLogger("mediaops.webhooks")
QUEUE = "publisher.webhooks"
WAKE = "webhooks_wake"
POLL_S = float(os.environ.get("MEDIAOPS_WEBHOOK_POLL_S", "0.5"))
BATCH = 50
LEASE_S = 120  # a claimed row is re-claimable after this if its sender died mid-send
TIMEOUT_S = float(os.environ.get("MEDIAOPS_WEBHOOK_TIMEOUT_S", "15"))
# Finished deliveries (and their attempts) are kept this long for inspection and replay.
RETENTION_DAYS = float(os.environ.get("MEDIAOPS_WEBHOOK_RETENTION_DAYS", "30"))
PURGE_EVERY_S = 600.0


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def fanout_subscription(ctx: ServiceContext) -> list[Subscription]:
    async def handle(delivery: Delivery) -> None:
        try:
            event = CloudEvent.model_validate_json(delivery.body)
        except ValidationError as exc:
            raise PoisonMessage(f"not a CloudEvent: {exc.errors()[:2]}") from exc
        if event.type in COMMANDS:
            return
        async with ctx.db.session() as session, session.begin():
            rows = (
                await session.execute(
                    select(WebhookSubscription.id, WebhookSubscription.event_types).where(
                        WebhookSubscription.workspace_id == event.workspaceid,
                        WebhookSubscription.status == "active",
                    )
                )
            ).all()
            targets = [sid for sid, patterns in rows if domain.wants(patterns, event.type)]
            if not targets:
                return
            now = ctx.clock()
            payload = event.to_json_dict()
            await session.execute(
                insert(WebhookDelivery)
                .values(
                    [
                        {
                            "id": uuid.uuid4(),
                            "workspace_id": event.workspaceid,
                            "subscription_id": sid,
                            "event_id": event.id,
                            "event_type": event.type,
                            "payload": payload,
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                        }
                        for sid in targets
                    ]
                )
                .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
            )
        wake = ctx.extras.get(WAKE)
        if wake is not None:
            wake.set()

    return [
        Subscription(
            queue=QUEUE,
            exchange="events",
            routing_keys=("mediaops.#",),
            handler=handle,
            prefetch=ctx.settings.prefetch,
        )
    ]


def sign(secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, at, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": "mediaops-webhooks/1",
    }


async def send_once(
    client: httpx.AsyncClient,
    guard: UrlGuard,
    url: str,
    secret: str,
    payload: dict[str, Any],
    at: datetime,
) -> tuple[int | None, int, str | None, str | None]:
    """One POST: (status, latency ms, error, response excerpt)."""
    import json

    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # webhook-id = the event id: the same event keeps its id across retries and replays,
    # so receivers dedupe by it.
    headers = sign(secret, f"msg_{payload['id']}", at, body)
    started = time.perf_counter()
    try:
        response = await client.post(url, content=body.encode(), headers=headers)
    except UnsafeUrl as exc:
        return None, 0, f"refused: {exc.reason}", None
    except httpx.HTTPError as exc:
        return None, int((time.perf_counter() - started) * 1000), type(exc).__name__, None
    latency = int((time.perf_counter() - started) * 1000)
    return response.status_code, latency, None, response.text[:500]


async def deliver_due(ctx: ServiceContext, client: httpx.AsyncClient, guard: UrlGuard) -> int:
    """Claim and send one batch of due deliveries; returns how many were attempted."""
    now = ctx.clock()
    async with ctx.db.session() as session, session.begin():
        claimed = (
            await session.execute(
                text(
                    "UPDATE publisher.webhook_deliveries d "
                    "SET next_attempt_at = :lease "
                    "WHERE d.id IN (SELECT id FROM publisher.webhook_deliveries "
                    "  WHERE status = 'pending' AND next_attempt_at <= :now "
                    "  ORDER BY next_attempt_at LIMIT :n FOR UPDATE SKIP LOCKED) "
                    "RETURNING d.id, d.subscription_id, d.payload, d.attempts"
                ),
                {"now": now, "lease": now + _seconds(LEASE_S), "n": BATCH},
            )
        ).all()
        if not claimed:
            return 0
        subs = {
            s.id: s
            for s in (
                await session.scalars(
                    select(WebhookSubscription).where(
                        WebhookSubscription.id.in_({c.subscription_id for c in claimed})
                    )
                )
            )
        }
    box = credential_box(ctx)

    async def attempt(row: Any) -> tuple[Any, tuple[int | None, int, str | None, str | None]]:
        sub = subs.get(row.subscription_id)
        if sub is None or sub.status != "active":
            return row, (None, 0, "subscription disabled", None)
        secret = box.decrypt(sub.secret_enc)["secret"]
        return row, await send_once(client, guard, sub.url, secret, row.payload, ctx.clock())

    results = await asyncio.gather(*(attempt(r) for r in claimed))
    now = ctx.clock()
    async with ctx.db.session() as session, session.begin():
        for row, (status, latency, error, excerpt) in results:
            sub = subs.get(row.subscription_id)
            attempts = row.attempts + 1
            session.add(
                WebhookAttempt(
                    delivery_id=row.id,
                    at=now,
                    status_code=status,
                    latency_ms=latency,
                    error=error,
                    response_excerpt=excerpt,
                )
            )
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_status_code": status,
                "last_error": error,
            }
            if domain.is_success(status):
                values.update(status="succeeded", delivered_at=now, next_attempt_at=None)
                failures: int | None = 0
            else:
                retry_at = domain.next_attempt_at(attempts, now)
                if sub is None or sub.status != "active" or retry_at is None:
                    values.update(status="failed", next_attempt_at=None)
                else:
                    values.update(next_attempt_at=retry_at)
                failures = None
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == row.id).values(**values)
            )
            if sub is None:
                continue
            if failures == 0:
                await session.execute(
                    update(WebhookSubscription)
                    .where(WebhookSubscription.id == sub.id)
                    .values(consecutive_failures=0)
                )
                continue
            reason = None
            if domain.disables_endpoint(status):
                reason = "the endpoint answered 410 Gone"
            elif sub.consecutive_failures + 1 >= domain.DISABLE_AFTER_CONSECUTIVE_FAILURES:
                reason = f"{domain.DISABLE_AFTER_CONSECUTIVE_FAILURES} failed attempts in a row"
            stmt = (
                update(WebhookSubscription)
                .where(WebhookSubscription.id == sub.id)
                .values(consecutive_failures=WebhookSubscription.consecutive_failures + 1)
            )
            if reason:
                stmt = stmt.values(status="disabled", disabled_reason=reason)
                log.warning(
                    "webhook subscription disabled", extra={"id": str(sub.id), "reason": reason}
                )
            await session.execute(stmt)
    return len(claimed)


def _seconds(n: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=n)


async def purge_finished(ctx: ServiceContext, older_than_days: float = RETENTION_DAYS) -> int:
    """Delete succeeded or failed deliveries older than the retention (attempts cascade)."""
    async with ctx.db.session() as session, session.begin():
        result = await session.execute(
            text(
                "DELETE FROM publisher.webhook_deliveries WHERE id IN ("
                "  SELECT id FROM publisher.webhook_deliveries"
                "  WHERE status IN ('succeeded', 'failed') AND created_at < :cutoff LIMIT 10000)"
            ),
            {"cutoff": ctx.clock() - _seconds(older_than_days * 86400)},
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def sender_tasks(ctx: ServiceContext) -> list:  # type: ignore[type-arg]
    async def run() -> None:
        wake = ctx.extras.setdefault(WAKE, asyncio.Event())
        last_purge = 0.0
        guard = UrlGuard(tuple(ctx.settings.url_allow_list))
        async with httpx.AsyncClient(
            timeout=TIMEOUT_S, follow_redirects=False, event_hooks={"request": [guard.on_request]}
        ) as client:
            while True:
                wake.clear()
                if time.monotonic() - last_purge > PURGE_EVERY_S:
                    last_purge = time.monotonic()
                    await purge_finished(ctx)
                sent = await deliver_due(ctx, client, guard)
                if sent >= BATCH:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL_S)

    return [run]
