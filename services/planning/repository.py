"""Queries shared by the planning routes and handlers; every one is filtered by workspace."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning import tables as t
from services.planning.domain.goals import GoalProgress, GoalSnapshot, GoalStatus
from services.planning.domain.insights import Insight
from services.planning.domain.strategy import Pillar
from services.planning.domain.timezones import DEFAULT_TIMEZONE
from services.planning.domain.topics import output_shares
from shared.errors import NotFound, Unprocessable
from shared.http.pagination import paginate

M = TypeVar("M")

# Output counted for pillar shares: what went into production or out of the door lately.
OUTPUT_STATUSES = ("in_production", "published")
OUTPUT_WINDOW = timedelta(days=90)


def new_feed_secret() -> str:
    return secrets.token_urlsafe(32)


async def workspace(session: AsyncSession, workspace_id: str) -> t.Workspace:
    """The workspace's settings row, created with defaults on first use."""
    row = await session.get(t.Workspace, workspace_id)
    if row is not None:
        return row
    await session.execute(
        insert(t.Workspace)
        .values(
            id=workspace_id,
            name=workspace_id,
            timezone=DEFAULT_TIMEZONE,
            blackout_dates=[],
            feed_secret=new_feed_secret(),
            version=1,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    row = await session.get(t.Workspace, workspace_id)
    assert row is not None
    return row


def zone(ws: t.Workspace) -> ZoneInfo:
    return ZoneInfo(ws.timezone)


async def get_owned(
    session: AsyncSession, model: type[M], id_: uuid.UUID, workspace_id: str, what: str
) -> M:
    """A row of this workspace by id, or 404 (another workspace's id looks the same)."""
    row = await session.get(model, id_)
    if row is None or row.workspace_id != workspace_id:  # type: ignore[attr-defined]
        raise NotFound(f"no such {what}", field=f"{what}_id")
    return row


async def get_for_update(
    session: AsyncSession, model: type[M], id_: uuid.UUID, workspace_id: str, what: str
) -> M:
    """As get_owned, with a row lock so concurrent writers serialise on the version check."""
    row = await session.scalar(
        select(model)
        .where(model.id == id_, model.workspace_id == workspace_id)  # type: ignore[attr-defined]
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(f"no such {what}", field=f"{what}_id")
    return row


async def exists_in_workspace(
    session: AsyncSession, model: type[Any], id_: uuid.UUID | str | None, workspace_id: str
) -> bool:
    if id_ is None:
        return True
    try:
        key = id_ if isinstance(id_, uuid.UUID) else uuid.UUID(str(id_))
    except ValueError:
        return False
    found = await session.scalar(
        select(model.id).where(model.id == key, model.workspace_id == workspace_id)
    )
    return found is not None


# Cursor pagination over (created_at, id) is the kernel's.
page = paginate


# --- read models feeding scores and suggestions ---------------------------------------------


async def pillars(session: AsyncSession, workspace_id: str) -> list[Pillar]:
    rows = await session.scalars(
        select(t.Pillar).where(t.Pillar.workspace_id == workspace_id).order_by(t.Pillar.name)
    )
    return [Pillar(p.name, p.target_share, p.description) for p in rows]


async def actual_pillar_shares(
    session: AsyncSession, workspace_id: str, now: datetime
) -> dict[str, float]:
    rows = await session.scalars(
        select(t.Topic.pillar).where(
            t.Topic.workspace_id == workspace_id,
            t.Topic.status.in_(OUTPUT_STATUSES),
            t.Topic.updated_at >= now - OUTPUT_WINDOW,
        )
    )
    return output_shares(rows)


async def insights(session: AsyncSession, workspace_id: str) -> list[Insight]:
    rows = await session.scalars(
        select(t.Insight)
        .where(t.Insight.workspace_id == workspace_id)
        .order_by(t.Insight.generated_at)
    )
    return [
        Insight(
            kind=r.kind,
            recommendation=r.recommendation,
            evidence=r.evidence,
            scope=r.scope,
            confidence=r.confidence,
            generated_at=r.generated_at,
        )
        for r in rows
    ]


def goal_current(goal: t.Goal) -> float:
    return goal.progress_current if goal.progress_current is not None else goal.baseline


def goal_snapshot(goal: t.Goal) -> GoalSnapshot:
    return GoalSnapshot(
        id=str(goal.id),
        name=goal.name,
        metric=goal.metric,
        target=goal.target,
        baseline=goal.baseline,
        current=goal_current(goal),
        period_start=goal.period_start,
        period_end=goal.period_end,
        status=GoalStatus(goal.status),
    )


def goal_progress(goal: t.Goal, on_track: bool) -> GoalProgress:
    from shared.pacing import progress_ratio

    current = goal_current(goal)
    return GoalProgress(
        goal_id=str(goal.id),
        name=goal.name,
        metric=goal.metric,
        target=goal.target,
        current=current,
        ratio=progress_ratio(current, goal.baseline, goal.target),
        on_track=on_track,
        status=GoalStatus(goal.status),
    )


async def active_goals(session: AsyncSession, workspace_id: str) -> list[t.Goal]:
    rows = await session.scalars(
        select(t.Goal).where(t.Goal.workspace_id == workspace_id, t.Goal.status == "active")
    )
    return list(rows)


async def member(session: AsyncSession, workspace_id: str, user_id: str) -> t.Member | None:
    return await session.scalar(
        select(t.Member).where(t.Member.workspace_id == workspace_id, t.Member.user_id == user_id)
    )


def parse_uuid(value: str | None, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Unprocessable(f"{field} is not a valid id", field=field) from None


def goal_event(g: t.Goal) -> dict[str, Any]:
    """The payload of goal.created / goal.updated (metrics consumes it)."""
    return {
        "goal_id": str(g.id),
        "name": g.name,
        "metric": g.metric,
        "target": g.target,
        "baseline": g.baseline,
        "period_start": g.period_start.astimezone(UTC),
        "period_end": g.period_end.astimezone(UTC),
        "channel": g.channel,
        "campaign_id": str(g.campaign_id) if g.campaign_id else None,
        "status": g.status,
    }
