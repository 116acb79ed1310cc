"""`/v1/webhooks`: subscribe a URL to event types; inspect and replay deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from sqlalchemy import select

from services.publisher.bootstrap import credential_box
from services.publisher.connectors.ssrf import UnsafeUrl, UrlGuard
from services.publisher.webhooks import domain
from services.publisher.webhooks.delivery import WAKE, new_secret
from services.publisher.webhooks.tables import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from shared.auth import Principal
from shared.errors import Conflict, NotFound, Unprocessable
from shared.http import CurrentPrincipal, StrictModel, Uow, check_if_match, etag, require_roles
from shared.http.idempotency import idempotent_create
from shared.http.pagination import decode_cursor, encode_cursor
from shared.http.responses import json_response

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Manager = Annotated[Principal, Depends(require_roles("manager"))]


class SubscriptionIn(StrictModel):
    url: str = Field(max_length=2000, description="https endpoint that receives the events")
    event_types: list[str] = Field(
        min_length=1,
        max_length=100,
        description="Catalog types or wildcards (`mediaops.publisher.#`)",
    )
    description: str | None = Field(None, max_length=500)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "url": "https://hooks.example.com/mediaops",
                    "event_types": [
                        "mediaops.publisher.publication.published",
                        "mediaops.content.#",
                    ],
                    "description": "site rebuild + Slack",
                }
            ]
        }
    }


class SubscriptionPatch(StrictModel):
    url: str | None = Field(None, max_length=2000)
    event_types: list[str] | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    status: str | None = Field(None, pattern="^(active|disabled)$")


def subscription_json(s: WebhookSubscription, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(s.id),
        "url": s.url,
        "event_types": s.event_types,
        "description": s.description,
        "status": s.status,
        "disabled_reason": s.disabled_reason,
        "consecutive_failures": s.consecutive_failures,
        "version": s.version,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }
    if secret is not None:
        out["secret"] = secret  # shown once, at creation
    return out


def delivery_json(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "subscription_id": str(d.subscription_id),
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
    }


async def _checked(request: Request, url: str, field: str) -> str:
    guard = UrlGuard(tuple(request.app.state.ctx.settings.url_allow_list))
    try:
        await guard.acheck(url)
    except UnsafeUrl as exc:
        raise Unprocessable(f"{field}: {exc.reason}", field=field) from exc
    return url


def _patterns(types: list[str], field: str = "event_types") -> list[str]:
    try:
        return domain.validate_event_types(types)
    except domain.InvalidPattern as exc:
        raise Unprocessable(str(exc), field=field) from exc


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}", field=f"{what}_id") from None


async def _subscription(uow: Any, ws: str, sid: str) -> WebhookSubscription:
    sub = await uow.session.scalar(
        select(WebhookSubscription).where(
            WebhookSubscription.id == _uuid(sid, "subscription"),
            WebhookSubscription.workspace_id == ws,
        )
    )
    if sub is None:
        raise NotFound("no such subscription", field="subscription_id")
    return sub


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe a URL to event types (the signing secret is returned once)",
)
async def create_subscription(
    body: SubscriptionIn, uow: Uow, principal: Manager, request: Request
) -> Any:
    patterns = _patterns(body.event_types)  # before the URL: no DNS lookup for a bad request
    url = await _checked(request, body.url, "url")

    async def create() -> tuple[int, Any, dict[str, str]]:
        secret = new_secret()
        sub = WebhookSubscription(
            id=uuid.uuid4(),
            workspace_id=principal.workspace_id,
            url=url,
            description=body.description,
            event_types=patterns,
            secret_enc=credential_box(uow.ctx).encrypt({"secret": secret}),
            status="active",
            consecutive_failures=0,
            created_by=principal.sub,
            version=1,
        )
        uow.session.add(sub)
        await uow.session.flush()
        return 201, subscription_json(sub, secret), {"ETag": etag(sub.version)}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


@router.get("/subscriptions", summary="The workspace's webhook subscriptions")
async def list_subscriptions(uow: Uow, principal: CurrentPrincipal) -> Any:
    rows = await uow.session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.workspace_id == principal.workspace_id)
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    return json_response({"items": [subscription_json(s) for s in rows], "next_cursor": None})


@router.get("/subscriptions/{subscription_id}", summary="One subscription")
async def read_subscription(subscription_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    sub = await _subscription(uow, principal.workspace_id, subscription_id)
    return json_response(subscription_json(sub), headers={"ETag": etag(sub.version)})


@router.patch(
    "/subscriptions/{subscription_id}",
    summary="Change URL, event types or status (re-enabling resets the failure count)",
)
async def patch_subscription(
    subscription_id: str,
    body: SubscriptionPatch,
    uow: Uow,
    principal: Manager,
    request: Request,
) -> Any:
    sub = await _subscription(uow, principal.workspace_id, subscription_id)
    check_if_match(request, sub.version, required=True)
    if body.url is not None:
        sub.url = await _checked(request, body.url, "url")
    if body.event_types is not None:
        sub.event_types = _patterns(body.event_types)
    if body.description is not None:
        sub.description = body.description
    if body.status is not None and body.status != sub.status:
        sub.status = body.status
        sub.disabled_reason = None if body.status == "active" else f"disabled by {principal.sub}"
        sub.consecutive_failures = 0
    sub.version += 1
    await uow.session.flush()
    return json_response(subscription_json(sub), headers={"ETag": etag(sub.version)})


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Unsubscribe")
async def delete_subscription(subscription_id: str, uow: Uow, principal: Manager) -> None:
    sub = await _subscription(uow, principal.workspace_id, subscription_id)
    await uow.session.delete(sub)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    summary="Deliveries of a subscription, newest first (filter by status)",
)
async def list_deliveries(
    subscription_id: str,
    uow: Uow,
    principal: CurrentPrincipal,
    status: Annotated[str | None, Query(pattern="^(pending|succeeded|failed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Any:
    sub = await _subscription(uow, principal.workspace_id, subscription_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    after = decode_cursor(cursor)
    if after:
        stmt = stmt.where(
            (WebhookDelivery.created_at, WebhookDelivery.id) < (after[0], after[1])  # type: ignore[operator]
        )
    rows = list(
        await uow.session.scalars(
            stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(
                limit + 1
            )
        )
    )
    nxt = (
        encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return json_response({"items": [delivery_json(d) for d in rows[:limit]], "next_cursor": nxt})


async def _delivery(uow: Any, ws: str, delivery_id: str) -> WebhookDelivery:
    d = await uow.session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == _uuid(delivery_id, "delivery"),
            WebhookDelivery.workspace_id == ws,
        )
    )
    if d is None:
        raise NotFound("no such delivery", field="delivery_id")
    return d


@router.get("/deliveries/{delivery_id}", summary="One delivery with every attempt")
async def read_delivery(delivery_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    d = await _delivery(uow, principal.workspace_id, delivery_id)
    attempts = await uow.session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == d.id).order_by(WebhookAttempt.at)
    )
    return json_response(
        {
            **delivery_json(d),
            "payload": d.payload,
            "attempt_log": [
                {
                    "at": a.at,
                    "status_code": a.status_code,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                    "response_excerpt": a.response_excerpt,
                }
                for a in attempts
            ],
        }
    )


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    summary="Send a delivery again now (same webhook-id, so receivers can dedupe)",
)
async def replay_delivery(delivery_id: str, uow: Uow, principal: Manager, request: Request) -> Any:
    d = await _delivery(uow, principal.workspace_id, delivery_id)
    sub = await _subscription(uow, principal.workspace_id, str(d.subscription_id))
    if sub.status != "active":
        raise Conflict("the subscription is disabled; enable it first", field="subscription_id")
    now: datetime = uow.now()
    d.status, d.next_attempt_at, d.attempts = "pending", now, 0
    await uow.session.flush()
    wake = request.app.state.ctx.extras.get(WAKE)
    if wake is not None:
        wake.set()
    return json_response(delivery_json(d), status_code=202)
