"""Event handlers of the planning service. Queue bindings are derived from this dict.

Each runs in the message's transaction (the inbox row makes it once in effect). Events may
arrive late or out of order: a status only moves forward (a late `item.approved` after
`publication.published` leaves the topic published), and progress or insights older than
what is stored are ignored.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.planning import repository as repo
from services.planning import tables as t
from services.planning.domain.goals import GoalStatus, next_goal_status
from services.planning.domain.insights import Insight
from services.planning.domain.topics import TopicAction, TopicStatus, transition
from shared.events import CloudEvent
from shared.events.catalog.content import ItemApproved
from shared.events.catalog.metrics import GoalProgressed, InsightGenerated
from shared.events.catalog.publisher import PublicationPublished
from shared.service import EventHandler, HandlerContext

log = logging.getLogger("mediaops.planning.handlers")

GOAL_UPDATED = "mediaops.planning.goal.updated"
# How far along a topic is; a handler never moves it backwards.
RANK = {"idea": 0, "approved": 1, "in_production": 2, "published": 3}


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def _topic(ctx: HandlerContext, workspace_id: str, topic_id: str | None) -> t.Topic | None:
    key = _uuid(topic_id)
    if key is None:
        return None
    return await ctx.session.scalar(
        select(t.Topic)
        .where(t.Topic.id == key, t.Topic.workspace_id == workspace_id)
        .with_for_update()
    )


async def on_item_approved(ctx: HandlerContext, event: CloudEvent) -> None:
    """Content approved for a topic: the topic is in production."""
    data = ItemApproved.model_validate(event.data)
    topic = await _topic(ctx, event.workspaceid, data.topic_id)
    if topic is None:
        return
    topic.content_item_id = topic.content_item_id or data.item_id
    if topic.status == TopicStatus.APPROVED.value:
        topic.status = transition(topic.status, TopicAction.START_PRODUCTION).value
        topic.version += 1
    # idea (not approved in planning), dropped, or already further along: no status change.


async def on_published(ctx: HandlerContext, event: CloudEvent) -> None:
    """A post of the topic is live: topic and its calendar slot are published."""
    data = PublicationPublished.model_validate(event.data)
    topic = await _topic(ctx, event.workspaceid, data.topic_id)
    if topic is None:
        return
    if topic.status in (TopicStatus.APPROVED.value, TopicStatus.IN_PRODUCTION.value):
        topic.status = transition(topic.status, TopicAction.PUBLISH).value
        topic.version += 1
    if topic.status == TopicStatus.PUBLISHED.value:
        if topic.published_at is None or data.published_at < topic.published_at:
            topic.published_at = data.published_at
            topic.publication_url = data.url
        topic.content_item_id = topic.content_item_id or data.item_id
        entry = await ctx.session.scalar(
            select(t.CalendarEntry)
            .where(
                t.CalendarEntry.workspace_id == event.workspaceid,
                t.CalendarEntry.topic_id == topic.id,
                t.CalendarEntry.kind == "publication",
            )
            .with_for_update()
        )
        if entry is not None and entry.status != "published":
            entry.status, entry.published_at = "published", data.published_at
            entry.version += 1
    else:
        log.info("publication for topic %s in status %s: kept", topic.id, topic.status)


async def on_goal_progressed(ctx: HandlerContext, event: CloudEvent) -> None:
    """The progress read model; the status follows the domain rules (achieved / missed)."""
    data = GoalProgressed.model_validate(event.data)
    key = _uuid(data.goal_id)
    if key is None:
        return
    goal = await ctx.session.scalar(
        select(t.Goal)
        .where(t.Goal.id == key, t.Goal.workspace_id == event.workspaceid)
        .with_for_update()
    )
    if goal is None:
        return
    if goal.progress_measured_at is not None and data.measured_at < goal.progress_measured_at:
        return  # an older measurement arriving late
    goal.progress_current = data.current
    goal.progress_ratio = data.ratio
    goal.progress_on_track = data.on_track
    goal.progress_measured_at = data.measured_at
    status = next_goal_status(
        GoalStatus(goal.status),
        current=data.current,
        baseline=goal.baseline,
        target=goal.target,
        period_end=goal.period_end,
        now=max(ctx.now(), data.measured_at),
    )
    if status.value != goal.status:
        goal.status = status.value
        goal.version += 1
        await ctx.session.flush()
        await ctx.emit(GOAL_UPDATED, repo.goal_event(goal), subject=str(goal.id))


async def on_insight(ctx: HandlerContext, event: CloudEvent) -> None:
    """Keep the newest insight per kind and scope; they feed topic scores and suggestions."""
    data = InsightGenerated.model_validate(event.data)
    insight = Insight.from_event(event.data, event.time)
    values = {
        "workspace_id": event.workspaceid,
        "insight_id": data.insight_id,
        "scope_key": insight.scope_key,
        "kind": data.kind,
        "scope": data.scope,
        "recommendation": data.recommendation,
        "evidence": data.evidence,
        "confidence": data.confidence,
        "generated_at": event.time,
    }
    stmt = insert(t.Insight).values(id=uuid.uuid4(), **values)
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["workspace_id", "scope_key"],
            set_={k: stmt.excluded[k] for k in values if k not in ("workspace_id", "scope_key")},
            where=t.Insight.generated_at <= stmt.excluded.generated_at,
        )
    )


EVENT_HANDLERS: dict[str, list[EventHandler]] = {
    "mediaops.content.item.approved": [on_item_approved],
    "mediaops.publisher.publication.published": [on_published],
    "mediaops.metrics.goal.progressed": [on_goal_progressed],
    "mediaops.metrics.insight.generated": [on_insight],
}
