"""SMART goals and their progress read model (fed by mediaops.metrics.goal.progressed)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from services.planning import repository as repo
from services.planning import tables as t
from services.planning.api.common import WRITE_RESPONSES, Cursor, Limit, Manager, tagged, utc
from services.planning.api.schemas import GoalIn, GoalPatch
from services.planning.domain.errors import DomainError
from services.planning.domain.goals import (
    ALLOWED_METRICS,
    METRICS,
    GoalStatus,
    cancel_goal,
    goals_at_risk,
    next_goal_status,
    validate_goal,
)
from services.planning.domain.timezones import local_day_start
from shared.errors import Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match, idempotent_create
from shared.pacing import Pace

router = APIRouter(prefix="/v1", tags=["goals"])

GOAL_CREATED = "mediaops.planning.goal.created"
GOAL_UPDATED = "mediaops.planning.goal.updated"


def goal_json(g: t.Goal, now: datetime) -> dict[str, Any]:
    current = repo.goal_current(g)
    pace = Pace.compute(current, g.baseline, g.target, g.period_start, g.period_end, now)
    return {
        "id": str(g.id),
        "name": g.name,
        "metric": g.metric,
        "unit": METRICS[g.metric].unit.value if g.metric in METRICS else None,
        "target": g.target,
        "baseline": g.baseline,
        "period_start": utc(g.period_start),
        "period_end": utc(g.period_end),
        "channel": g.channel,
        "campaign_id": str(g.campaign_id) if g.campaign_id else None,
        "owner": g.owner,
        # A period that ended with no newer measurement still reads as achieved or missed.
        "status": next_goal_status(
            GoalStatus(g.status),
            current=current,
            baseline=g.baseline,
            target=g.target,
            period_end=g.period_end,
            now=now,
        ).value,
        "version": g.version,
        "created_at": g.created_at,
        "updated_at": g.updated_at,
        "progress": {
            "current": current,
            "ratio": round(pace.ratio, 6),
            "expected": round(pace.expected, 6),
            "on_track": pace.on_track,
            "updated_at": utc(g.progress_measured_at),
        },
    }


def _instant(value: datetime | date, tz: ZoneInfo, *, end: bool) -> datetime:
    """A date is a whole local day: the start of the first, the end of the last (exclusive)."""
    if isinstance(value, datetime):
        return value
    return local_day_start(value + timedelta(days=1) if end else value, tz)


def _validate(
    *,
    name: str,
    metric: str,
    target: float,
    baseline: float | None,
    start: datetime | date,
    end: datetime | date,
    tz: ZoneInfo,
    channel: str | None,
    campaign_id: str | None,
    owner: str | None,
) -> Any:
    try:
        return validate_goal(
            name=name,
            metric=metric,
            target=target,
            baseline=baseline,
            period_start=_instant(start, tz, end=False),
            period_end=_instant(end, tz, end=True),
            channel=channel,
            campaign_id=campaign_id,
            owner=owner,
        )
    except DomainError as exc:
        extra = {"allowed": list(ALLOWED_METRICS)} if exc.field == "metric" else {}
        raise Unprocessable(str(exc), field=exc.field, **extra) from None


async def _campaign(uow: Uow, workspace_id: str, campaign_id: str | None) -> uuid.UUID | None:
    key = repo.parse_uuid(campaign_id, "campaign_id")
    if not await repo.exists_in_workspace(uow.session, t.Campaign, key, workspace_id):
        raise Unprocessable("no such campaign in this workspace", field="campaign_id")
    return key


@router.post(
    "/goals",
    status_code=201,
    summary="Create a SMART goal (managers)",
    description="`metric` is one of the dictionary (an unknown one is a 422 listing them); "
    "`period_start`/`period_end` are instants with offset or local dates (inclusive) in the "
    "workspace time zone.",
    responses=WRITE_RESPONSES,
)
async def create_goal(body: GoalIn, uow: Uow, principal: Manager, request: Request) -> Any:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    spec = _validate(
        name=body.name,
        metric=body.metric,
        target=body.target,
        baseline=body.baseline,
        start=body.period_start,
        end=body.period_end,
        tz=repo.zone(ws),
        channel=body.channel,
        campaign_id=body.campaign_id,
        owner=body.owner or principal.sub,
    )

    async def create() -> tuple[int, Any, dict[str, str]]:
        campaign_id = await _campaign(uow, principal.workspace_id, body.campaign_id)
        g = t.Goal(
            workspace_id=principal.workspace_id,
            name=spec.name,
            metric=spec.metric,
            target=spec.target,
            baseline=spec.baseline,
            period_start=spec.period_start,
            period_end=spec.period_end,
            channel=spec.channel,
            campaign_id=campaign_id,
            owner=spec.owner,
            status=GoalStatus.ACTIVE.value,
        )
        uow.session.add(g)
        await uow.session.flush()
        await uow.emit(
            GOAL_CREATED, repo.goal_event(g), workspace_id=principal.workspace_id, subject=str(g.id)
        )
        return 201, goal_json(g, uow.now()), {"ETag": f'"{g.version}"'}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


@router.get("/goals", summary="Goals with their progress")
async def list_goals(
    uow: Uow,
    principal: CurrentPrincipal,
    status: GoalStatus | None = None,
    campaign_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    stmt = select(t.Goal).where(t.Goal.workspace_id == principal.workspace_id)
    if status is not None:
        stmt = stmt.where(t.Goal.status == status.value)
    if campaign_id is not None:
        stmt = stmt.where(t.Goal.campaign_id == campaign_id)
    rows, nxt = await repo.page(uow.session, stmt, t.Goal, limit, cursor)
    now = uow.now()
    return {"items": [goal_json(g, now) for g in rows], "next_cursor": nxt}


@router.get(
    "/goals/at-risk",
    summary="Active goals behind pace, worst first, each with the reason",
)
async def at_risk(
    uow: Uow, principal: CurrentPrincipal, tolerance: float = Query(0.9, gt=0, le=1)
) -> Any:
    now = uow.now()
    goals = await repo.active_goals(uow.session, principal.workspace_id)
    by_id = {str(g.id): g for g in goals}
    risks = goals_at_risk([repo.goal_snapshot(g) for g in goals], now, tolerance)
    return {
        "items": [
            {
                **goal_json(by_id[r.goal.id], now),
                "expected_ratio": round(r.expected_ratio, 6),
                "shortfall": round(r.shortfall, 6),
                "reason": r.reason,
            }
            for r in risks
        ]
    }


@router.get("/goals/{goal_id}", summary="One goal with its progress")
async def get_goal(goal_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal) -> Any:
    g = await repo.get_owned(uow.session, t.Goal, goal_id, principal.workspace_id, "goal")
    return tagged(goal_json(g, uow.now()), g.version)


@router.patch(
    "/goals/{goal_id}",
    summary="Change an active goal (managers; If-Match required)",
    responses=WRITE_RESPONSES,
)
async def patch_goal(
    goal_id: uuid.UUID, body: GoalPatch, uow: Uow, principal: Manager, request: Request
) -> Any:
    g = await repo.get_for_update(uow.session, t.Goal, goal_id, principal.workspace_id, "goal")
    check_if_match(request, g.version, required=True)
    if g.status != GoalStatus.ACTIVE.value:
        from services.planning.domain.errors import InvalidTransition

        raise InvalidTransition("goal", g.status, "change")
    ws = await repo.workspace(uow.session, principal.workspace_id)
    sent = body.model_fields_set
    spec = _validate(
        name=body.name if body.name is not None else g.name,
        metric=body.metric if body.metric is not None else g.metric,
        target=body.target if body.target is not None else g.target,
        baseline=body.baseline if body.baseline is not None else g.baseline,
        start=body.period_start or g.period_start,
        end=body.period_end or g.period_end,
        tz=repo.zone(ws),
        channel=body.channel if "channel" in sent else g.channel,
        campaign_id=body.campaign_id if "campaign_id" in sent else g.campaign_id,
        owner=body.owner if body.owner is not None else g.owner,
    )
    if "campaign_id" in sent:
        g.campaign_id = await _campaign(uow, principal.workspace_id, body.campaign_id)
    g.name, g.metric, g.target, g.baseline = spec.name, spec.metric, spec.target, spec.baseline
    g.period_start, g.period_end = spec.period_start, spec.period_end
    g.channel, g.owner = spec.channel, spec.owner
    g.version += 1
    await uow.session.flush()
    await uow.emit(
        GOAL_UPDATED, repo.goal_event(g), workspace_id=principal.workspace_id, subject=str(g.id)
    )
    return tagged(goal_json(g, uow.now()), g.version)


@router.post(
    "/goals/{goal_id}/cancel",
    summary="Cancel an active goal (managers)",
    responses=WRITE_RESPONSES,
)
async def cancel(goal_id: uuid.UUID, uow: Uow, principal: Manager, request: Request) -> Any:
    g = await repo.get_for_update(uow.session, t.Goal, goal_id, principal.workspace_id, "goal")
    check_if_match(request, g.version)
    g.status = cancel_goal(GoalStatus(g.status)).value
    g.version += 1
    await uow.session.flush()
    await uow.emit(
        GOAL_UPDATED, repo.goal_event(g), workspace_id=principal.workspace_id, subject=str(g.id)
    )
    return tagged(goal_json(g, uow.now()), g.version)
