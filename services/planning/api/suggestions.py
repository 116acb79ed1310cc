"""Suggestions for the next period, each with the evidence behind it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.planning import repository as repo
from services.planning.domain.goals import goals_at_risk
from services.planning.domain.suggestions import suggest_next_period
from shared.http import CurrentPrincipal, Uow

router = APIRouter(prefix="/v1", tags=["suggestions"])


@router.get(
    "/suggestions",
    summary="What to do next period: goals at risk, pillar balance, formats, hours, topics",
    description="Built from the goals behind pace, the pillars' target against actual share of "
    "output (last 90 days), and the insights the metrics service generated.",
)
async def suggestions(uow: Uow, principal: CurrentPrincipal) -> Any:
    now = uow.now()
    ws = principal.workspace_id
    pillars = await repo.pillars(uow.session, ws)
    shares = await repo.actual_pillar_shares(uow.session, ws, now)
    insights = await repo.insights(uow.session, ws)
    goals = await repo.active_goals(uow.session, ws)
    risks = goals_at_risk([repo.goal_snapshot(g) for g in goals], now)
    items = suggest_next_period(pillars, shares, insights, now, risks)
    return {
        "generated_at": now,
        "items": [
            {
                "kind": s.kind.value,
                "title": s.title,
                "recommendation": s.recommendation,
                "evidence": s.evidence,
            }
            for s in items
        ],
    }
