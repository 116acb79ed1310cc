"""The `reviews` worker: emits `review.overdue` once per stage entry past its SLA.

The current stage and its due time are kept on the item at every review transition, so the
scan is one indexed query; `overdue_notices` makes the event once-only across restarts and
replicas (the insert and the outbox row commit together).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.content import tables as t
from shared.service import ServiceContext

log = logging.getLogger("mediaops.content.reviews")

OVERDUE = "mediaops.content.review.overdue"
POLL_S = 30.0
BATCH = 500


async def scan_overdue(ctx: ServiceContext) -> int:
    """One pass: emit for every newly overdue stage; returns how many were emitted."""
    now = ctx.clock()
    emitted = 0
    async with ctx.db.session() as session, session.begin():
        rows = await session.scalars(
            select(t.Item)
            .where(t.Item.status == "in_review", t.Item.stage_due_at < now)
            .order_by(t.Item.stage_due_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        for item in rows:
            if item.review_stage is None or item.stage_entered_at is None:
                continue
            inserted = await session.execute(
                insert(t.OverdueNotice)
                .values(
                    item_id=item.id,
                    round=item.review_round,
                    stage=item.review_stage,
                    entered_at=item.stage_entered_at,
                    workspace_id=item.workspace_id,
                    notified_at=now,
                )
                .on_conflict_do_nothing()
                .returning(t.OverdueNotice.item_id)
            )
            if inserted.first() is None:
                continue
            assert item.stage_due_at is not None
            sla_hours = (item.stage_due_at - item.stage_entered_at).total_seconds() / 3600
            await ctx.outbox.emit(
                session,
                OVERDUE,
                {
                    "item_id": str(item.id),
                    "version": item.version,
                    "stage": item.review_stage,
                    "entered_at": item.stage_entered_at,
                    "sla_hours": sla_hours,
                },
                workspace_id=item.workspace_id,
                subject=str(item.id),
            )
            emitted += 1
    return emitted


def tasks(ctx: ServiceContext) -> list:  # type: ignore[type-arg]
    async def loop() -> None:
        poll = float(ctx.extras.get("content.reviews_poll_s", POLL_S))
        while True:
            try:
                n = await scan_overdue(ctx)
                if n:
                    log.info("overdue reviews announced", extra={"count": n})
            except Exception:
                log.exception("overdue scan failed; retrying")
            await asyncio.sleep(poll)

    return [loop]
