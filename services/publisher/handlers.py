"""Event handlers of the publisher service. Queue bindings are derived from this dict.

- content.item.approved -> store the approved snapshot (item, content hash); with a planned
  time and target accounts, schedule one publication per account automatically.
- content.item.revised -> the item's approvals no longer cover it: snapshots superseded.
- metrics.insight.generated (kind best_hours) -> remembered for `mode: next_slot`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from services.publisher.repository import ScheduleRequest, schedule_publications
from services.publisher.tables import ApprovedSnapshot, BestHours
from shared.errors import AppError
from shared.events import CloudEvent
from shared.events.catalog.content import ItemApproved, ItemRevised
from shared.events.catalog.metrics import InsightGenerated
from shared.service import EventHandler, HandlerContext

log = logging.getLogger("mediaops.publisher")

APPROVED = "mediaops.content.item.approved"
REVISED = "mediaops.content.item.revised"
INSIGHT = "mediaops.metrics.insight.generated"


async def on_item_approved(ctx: HandlerContext, event: CloudEvent) -> None:
    data = ItemApproved.model_validate(event.data)
    ws = event.workspaceid
    now = ctx.now()
    values = {
        "workspace_id": ws,
        "item_id": data.item_id,
        "version": data.version,
        "content_hash": data.content_hash,
        "title": data.title,
        "format": data.format,
        "pillar": data.pillar,
        "topic_id": data.topic_id,
        "campaign_id": data.campaign_id,
        "planned_for": data.planned_for,
        "account_ids": list(data.account_ids),
        "variants": [v.model_dump(mode="json") for v in data.variants],
        "approved_at": event.time or now,
    }
    await ctx.session.execute(
        insert(ApprovedSnapshot)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["workspace_id", "item_id", "content_hash"],
            set_={k: v for k, v in values.items() if k not in ("workspace_id", "item_id")}
            | {"superseded_at": None},
        )
    )
    # Older approvals of other content are superseded by this one.
    await ctx.session.execute(
        update(ApprovedSnapshot)
        .where(
            ApprovedSnapshot.workspace_id == ws,
            ApprovedSnapshot.item_id == data.item_id,
            ApprovedSnapshot.content_hash != data.content_hash,
            ApprovedSnapshot.superseded_at.is_(None),
        )
        .values(superseded_at=now)
    )
    if data.planned_for is None or not data.account_ids:
        return
    snap = await ctx.session.scalar(
        select(ApprovedSnapshot).where(
            ApprovedSnapshot.workspace_id == ws,
            ApprovedSnapshot.item_id == data.item_id,
            ApprovedSnapshot.content_hash == data.content_hash,
        )
    )
    planned: datetime = data.planned_for
    for account_id in data.account_ids:
        req = ScheduleRequest(
            item_id=data.item_id,
            account_id=account_id,
            scheduled_at=planned if planned > now else None,
            mode="at" if planned > now else "asap",
        )
        try:
            async with ctx.session.begin_nested():
                await schedule_publications(
                    ctx.session,
                    ws,
                    req,
                    now=now,
                    created_by=f"event:{event.id}",
                    emit=ctx.emit,
                    snapshot=snap,
                )
        except AppError as exc:
            # Unknown account, quota refused, already scheduled: not retriable; logged.
            log.warning(
                "auto-scheduling skipped",
                extra={"item_id": data.item_id, "account_id": account_id, "reason": exc.detail},
            )


async def on_item_revised(ctx: HandlerContext, event: CloudEvent) -> None:
    data = ItemRevised.model_validate(event.data)
    await ctx.session.execute(
        update(ApprovedSnapshot)
        .where(
            ApprovedSnapshot.workspace_id == event.workspaceid,
            ApprovedSnapshot.item_id == data.item_id,
            ApprovedSnapshot.content_hash != data.content_hash,
            ApprovedSnapshot.superseded_at.is_(None),
        )
        .values(superseded_at=ctx.now())
    )


async def on_insight(ctx: HandlerContext, event: CloudEvent) -> None:
    data = InsightGenerated.model_validate(event.data)
    if data.kind != "best_hours":
        return
    scope = data.scope or {}
    if scope.get("account_id"):
        key = f"account:{scope['account_id']}"
    elif scope.get("channel"):
        key = f"channel:{scope['channel']}"
    else:
        key = "workspace"
    slots = list((data.evidence or {}).get("slots") or [])
    tz = str((data.evidence or {}).get("timezone") or "UTC")
    values = {
        "workspace_id": event.workspaceid,
        "scope": key,
        "timezone": tz,
        "slots": slots,
        "updated_at": ctx.now(),
    }
    await ctx.session.execute(
        insert(BestHours)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["scope", "workspace_id"],
            set_={"timezone": tz, "slots": slots, "updated_at": values["updated_at"]},
        )
    )


EVENT_HANDLERS: dict[str, list[EventHandler]] = {
    APPROVED: [on_item_approved],
    REVISED: [on_item_revised],
    INSIGHT: [on_insight],
}
