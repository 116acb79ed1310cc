"""Event handlers of the metrics service. Queue bindings are derived from this dict.

In: goal definitions (planning), posts going live and their platform counters (publisher),
approved items with pillar, format and title alternatives (content). Each handler runs in the
message's transaction; goal progress and insights are recomputed by the analyst worker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.metrics.domain.dictionary import (
    INGESTIBLE_METRICS,
    PLATFORM_FIELDS,
    as_number,
    validate_point,
)
from services.metrics.reporting import lock_diagnosis_group, store_diagnosis
from services.metrics.repository import (
    register_account,
    register_item,
    register_publication,
    upsert_goal,
)
from services.metrics.warehouse import (
    NewObservation,
    SeriesDims,
    account_series,
    store_observations,
    upsert_snapshot,
    workspace_timezone,
)
from shared.events import CloudEvent
from shared.events.catalog import payload_model
from shared.events.catalog.publisher import AccountStatsCaptured, PublicationStatsCaptured
from shared.service import EventHandler, HandlerContext

log = logging.getLogger("mediaops.metrics")

GOAL_CREATED = "mediaops.planning.goal.created"
GOAL_UPDATED = "mediaops.planning.goal.updated"
PUBLISHED = "mediaops.publisher.publication.published"
ITEM_APPROVED = "mediaops.content.item.approved"
PUBLICATION_STATS = "mediaops.publisher.publication.stats_captured"
ACCOUNT_STATS = "mediaops.publisher.account.stats_captured"


def _payload(event: CloudEvent) -> BaseModel:
    return payload_model(event.type).model_validate(event.data)


def normalise_fields(channel: str, raw: Mapping[str, object]) -> dict[str, tuple[float, dict]]:
    """metric -> (value, the platform fields it came from). Unknown platforms (webhook, rss,
    email...) are read in the normalised vocabulary; fields that are not numbers are left out.
    """
    mapping = PLATFORM_FIELDS.get(channel, {})
    out: dict[str, tuple[float, dict]] = {}
    for field, raw_value in raw.items():
        metric = mapping.get(field) or (field if field in INGESTIBLE_METRICS else None)
        number = as_number(raw_value)
        if metric is None or number is None:
            continue
        total, fields = out.get(metric, (0.0, {}))
        out[metric] = (total + number, {**fields, field: raw_value})
    return out


def _valid(metric: str, value: float, observed_at: datetime, now: datetime) -> bool:
    problem = validate_point(metric, value, observed_at, now)
    if problem is not None:
        log.warning("metrics: dropped %s=%r from a connector: %s", metric, value, problem.message)
    return problem is None


async def on_goal(ctx: HandlerContext, event: CloudEvent) -> None:
    data = _payload(event).model_dump()
    await workspace_timezone(ctx.session, event.workspaceid)
    await upsert_goal(ctx.session, event.workspaceid, data)


async def on_published(ctx: HandlerContext, event: CloudEvent) -> None:
    data = _payload(event).model_dump()
    await workspace_timezone(ctx.session, event.workspaceid)
    await register_publication(ctx.session, event.workspaceid, data)


async def on_item_approved(ctx: HandlerContext, event: CloudEvent) -> None:
    await register_item(ctx.session, event.workspaceid, _payload(event).model_dump())


async def on_publication_stats(ctx: HandlerContext, event: CloudEvent) -> None:
    stats = _payload(event)
    assert isinstance(stats, PublicationStatsCaptured)
    ws = event.workspaceid
    tz = await workspace_timezone(ctx.session, ws)
    info = await register_publication(
        ctx.session,
        ws,
        {
            "publication_id": stats.publication_id,
            "item_id": stats.item_id,
            "account_id": stats.account_id,
            "channel": stats.channel,
            "external_id": stats.external_id,
            "published_at": stats.published_at,
        },
    )
    normalised = normalise_fields(stats.channel, stats.values)
    now = ctx.now()
    source = f"connector:{stats.channel}"
    points = [
        NewObservation(
            series=info.dims.series,
            metric=metric,
            value=value,
            observed_at=stats.captured_at,
            source=source,
            captured_at=stats.captured_at,
            checkpoint=stats.checkpoint,
            raw={"fields": fields, "event_id": event.id},
        )
        for metric, (value, fields) in normalised.items()
        if _valid(metric, value, stats.captured_at, now)
    ]
    await store_observations(ctx.session, ws, tz, points, {info.dims.series: info.dims})
    if points:
        # The baseline group is locked before the snapshot row (see store_diagnosis).
        await lock_diagnosis_group(ctx.session, ws, info.channel, info.format, stats.checkpoint)
        await upsert_snapshot(
            ctx.session,
            ws,
            stats.publication_id,
            stats.checkpoint,
            stats.captured_at,
            {p.metric: p.value for p in points},
            info.channel,
            info.format,
            info.published_at,
        )
        await store_diagnosis(ctx.session, ws, stats.publication_id, stats.checkpoint)


async def on_account_stats(ctx: HandlerContext, event: CloudEvent) -> None:
    stats = _payload(event)
    assert isinstance(stats, AccountStatsCaptured)
    ws = event.workspaceid
    tz = await workspace_timezone(ctx.session, ws)
    await register_account(ctx.session, ws, stats.account_id, stats.channel)
    raw: dict[str, Any] = dict(stats.values)
    if stats.followers is not None:
        raw["followers"] = stats.followers
    normalised = normalise_fields(stats.channel, raw)
    series = account_series(stats.account_id)
    dims = SeriesDims(series, None, stats.account_id, stats.channel)
    now = ctx.now()
    points = [
        NewObservation(
            series=series,
            metric=metric,
            value=value,
            observed_at=stats.captured_at,
            source=f"connector:{stats.channel}",
            captured_at=stats.captured_at,
            raw={"fields": fields, "event_id": event.id},
        )
        for metric, (value, fields) in normalised.items()
        if _valid(metric, value, stats.captured_at, now)
    ]
    await store_observations(ctx.session, ws, tz, points, {series: dims})


EVENT_HANDLERS: dict[str, list[EventHandler]] = {
    GOAL_CREATED: [on_goal],
    GOAL_UPDATED: [on_goal],
    PUBLISHED: [on_published],
    ITEM_APPROVED: [on_item_approved],
    PUBLICATION_STATS: [on_publication_stats],
    ACCOUNT_STATS: [on_account_stats],
}
