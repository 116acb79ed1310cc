"""Campaigns (活动策划): theme, mechanics, goals, budget, resources, milestones, risk plan."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import or_, select

from services.planning import repository as repo
from services.planning import tables as t
from services.planning.api.common import WRITE_RESPONSES, Cursor, Limit, Manager, tagged, utc
from services.planning.api.schemas import CampaignIn, CampaignPatch, MilestoneIn, ResourceIn, RiskIn
from services.planning.domain import campaigns as dc
from services.planning.domain.errors import DomainError
from services.planning.domain.goals import GoalStatus
from shared.errors import Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match, idempotent_create
from shared.pacing import Pace

router = APIRouter(prefix="/v1", tags=["campaigns"])

LAUNCHED = "mediaops.planning.campaign.launched"
ENDED = "mediaops.planning.campaign.ended"


def _in(field: str, fn: Any, *args: Any, **kw: Any) -> Any:
    """Run a domain check; its error names `field` as the path inside the request."""
    try:
        return fn(*args, **kw)
    except DomainError as exc:
        path = f"{field}.{exc.field}" if field else exc.field
        raise Unprocessable(f"{path}: {exc.message}", field=path) from None


def _budget(budget: Any) -> tuple[Decimal | None, str | None]:
    if budget is None:
        return None, None
    b = _in("", dc.validate_budget, budget.amount, budget.currency)
    return b.amount, b.currency


def _resources(items: list[ResourceIn], currency: str | None) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(items):
        res = _in(f"resources.{i}", dc.validate_resource, r.kind, r.name, r.cost, currency or "CNY")
        out.append(
            {
                "kind": res.kind.value,
                "name": res.name,
                "cost": format(res.cost, "f"),
                "partner_id": r.partner_id,
                "notes": r.notes,
            }
        )
    return out


def _milestones(items: list[MilestoneIn]) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(items):
        _in(f"milestones.{i}", dc.Milestone, m.id or "x", m.title, m.due_at, m.done)
        out.append(
            {
                "id": m.id or uuid.uuid4().hex[:12],
                "title": m.title,
                "due_at": m.due_at.isoformat(),
                "done": m.done,
            }
        )
    return out


def _risks(items: list[RiskIn]) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(items):
        _in(f"risks.{i}", dc.RiskItem, r.risk, r.likelihood, r.impact, r.mitigation, r.owner)
        out.append(r.model_dump())
    return out


def to_domain(c: t.Campaign) -> dc.Campaign:
    currency = c.budget_currency or "CNY"
    return dc.Campaign(
        id=str(c.id),
        name=c.name,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        status=dc.CampaignStatus(c.status),
        theme=c.theme,
        mechanics=c.mechanics,
        budget=(
            dc.validate_budget(c.budget_amount, currency) if c.budget_amount is not None else None
        ),
        resources=[
            dc.CampaignResource(
                dc.ResourceKind(r["kind"]),
                r["name"],
                dc.to_amount(r["cost"], currency, "cost"),
                r.get("partner_id"),
                r.get("notes", ""),
            )
            for r in c.resources
        ],
        milestones=[
            dc.Milestone(m["id"], m["title"], datetime.fromisoformat(m["due_at"]), m["done"])
            for m in c.milestones
        ],
        risks=[
            dc.RiskItem(r["risk"], r["likelihood"], r["impact"], r["mitigation"], r["owner"])
            for r in c.risks
        ],
        goal_ids=tuple(c.goal_ids),
    )


def campaign_json(c: t.Campaign) -> dict[str, Any]:
    d = to_domain(c)
    return {
        "id": str(c.id),
        "name": c.name,
        "starts_at": utc(c.starts_at),
        "ends_at": utc(c.ends_at),
        "status": c.status,
        "theme": c.theme,
        "mechanics": c.mechanics,
        "budget": (
            {"amount": format(d.budget.amount, "f"), "currency": d.budget.currency}
            if d.budget
            else None
        ),
        "goal_ids": c.goal_ids,
        "resources": c.resources,
        "milestones": c.milestones,
        "risks": [
            {**r, "severity": ri.severity, "level": ri.level.value}
            for r, ri in zip(c.risks, d.risks, strict=True)
        ],
        "owner": c.owner,
        "version": c.version,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def campaign_event(c: t.Campaign) -> dict[str, Any]:
    return {
        "campaign_id": str(c.id),
        "name": c.name,
        "starts_at": utc(c.starts_at),
        "ends_at": utc(c.ends_at),
        "goal_ids": c.goal_ids,
        "status": c.status,
    }


async def _goal_ids(uow: Uow, workspace_id: str, ids: list[str]) -> list[str]:
    out = []
    for i, raw in enumerate(ids):
        key = repo.parse_uuid(raw, f"goal_ids.{i}")
        if not await repo.exists_in_workspace(uow.session, t.Goal, key, workspace_id):
            raise Unprocessable("no such goal in this workspace", field=f"goal_ids.{i}")
        out.append(str(key))
    return sorted(set(out))


@router.post(
    "/campaigns",
    status_code=201,
    summary="Plan a campaign (managers): status `draft`",
    responses=WRITE_RESPONSES,
)
async def create_campaign(body: CampaignIn, uow: Uow, principal: Manager, request: Request) -> Any:
    _in("", dc.validate_campaign_period, body.starts_at, body.ends_at)
    amount, currency = _budget(body.budget)
    resources = _resources(body.resources, currency)
    milestones = _milestones(body.milestones)
    risks = _risks(body.risks)

    async def create() -> tuple[int, Any, dict[str, str]]:
        await repo.workspace(uow.session, principal.workspace_id)
        c = t.Campaign(
            id=uuid.uuid4(),
            workspace_id=principal.workspace_id,
            name=body.name,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            status=dc.CampaignStatus.DRAFT.value,
            theme=body.theme,
            mechanics=body.mechanics,
            budget_amount=amount,
            budget_currency=currency,
            goal_ids=await _goal_ids(uow, principal.workspace_id, body.goal_ids),
            resources=resources,
            milestones=milestones,
            risks=risks,
            owner=principal.sub,
            version=1,
        )
        uow.session.add(c)
        await uow.session.flush()
        return 201, campaign_json(c), {"ETag": '"1"'}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


@router.get("/campaigns", summary="Campaigns")
async def list_campaigns(
    uow: Uow,
    principal: CurrentPrincipal,
    status: dc.CampaignStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    stmt = select(t.Campaign).where(t.Campaign.workspace_id == principal.workspace_id)
    if status is not None:
        stmt = stmt.where(t.Campaign.status == status.value)
    rows, nxt = await repo.page(uow.session, stmt, t.Campaign, limit, cursor)
    return {"items": [campaign_json(c) for c in rows], "next_cursor": nxt}


@router.get("/campaigns/{campaign_id}", summary="One campaign")
async def get_campaign(campaign_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal) -> Any:
    c = await repo.get_owned(
        uow.session, t.Campaign, campaign_id, principal.workspace_id, "campaign"
    )
    return tagged(campaign_json(c), c.version)


@router.patch(
    "/campaigns/{campaign_id}",
    summary="Change a campaign (managers; If-Match required)",
    responses=WRITE_RESPONSES,
)
async def patch_campaign(
    campaign_id: uuid.UUID, body: CampaignPatch, uow: Uow, principal: Manager, request: Request
) -> Any:
    c = await repo.get_for_update(
        uow.session, t.Campaign, campaign_id, principal.workspace_id, "campaign"
    )
    check_if_match(request, c.version, required=True)
    if c.status in ("ended", "cancelled"):
        from services.planning.domain.errors import InvalidTransition

        raise InvalidTransition("campaign", c.status, "change")
    sent = body.model_fields_set
    for key in (
        "name",
        "starts_at",
        "ends_at",
        "theme",
        "mechanics",
        "goal_ids",
        "resources",
        "milestones",
        "risks",
    ):
        if key in sent and getattr(body, key) is None:
            raise Unprocessable("must not be null", field=key)
    starts = body.starts_at or c.starts_at
    ends = body.ends_at or c.ends_at
    _in("", dc.validate_campaign_period, starts, ends)
    c.starts_at, c.ends_at = starts, ends
    if "budget" in sent:
        c.budget_amount, c.budget_currency = _budget(body.budget)
    if body.resources is not None:
        c.resources = _resources(body.resources, c.budget_currency)
    if body.milestones is not None:
        c.milestones = _milestones(body.milestones)
    if body.risks is not None:
        c.risks = _risks(body.risks)
    if body.goal_ids is not None:
        c.goal_ids = await _goal_ids(uow, principal.workspace_id, body.goal_ids)
    for key in ("name", "theme", "mechanics"):
        if getattr(body, key) is not None:
            setattr(c, key, getattr(body, key))
    c.version += 1
    await uow.session.flush()
    return tagged(campaign_json(c), c.version)


async def _move(
    uow: Uow, principal: Any, campaign_id: uuid.UUID, request: Request, action: dc.CampaignAction
) -> Any:
    c = await repo.get_for_update(
        uow.session, t.Campaign, campaign_id, principal.workspace_id, "campaign"
    )
    check_if_match(request, c.version)
    c.status = dc.campaign_transition(c.status, action).value
    c.version += 1
    await uow.session.flush()
    event = {dc.CampaignAction.LAUNCH: LAUNCHED, dc.CampaignAction.END: ENDED}.get(action)
    if event is not None:
        await uow.emit(event, campaign_event(c), workspace_id=c.workspace_id, subject=str(c.id))
    return tagged(campaign_json(c), c.version)


@router.post(
    "/campaigns/{campaign_id}/launch",
    summary="Go live (managers): campaign.launched",
    responses=WRITE_RESPONSES,
)
async def launch(campaign_id: uuid.UUID, uow: Uow, principal: Manager, request: Request) -> Any:
    return await _move(uow, principal, campaign_id, request, dc.CampaignAction.LAUNCH)


@router.post(
    "/campaigns/{campaign_id}/end",
    summary="End a live campaign (managers): campaign.ended",
    responses=WRITE_RESPONSES,
)
async def end(campaign_id: uuid.UUID, uow: Uow, principal: Manager, request: Request) -> Any:
    return await _move(uow, principal, campaign_id, request, dc.CampaignAction.END)


@router.post(
    "/campaigns/{campaign_id}/cancel",
    summary="Cancel a campaign (managers)",
    responses=WRITE_RESPONSES,
)
async def cancel(campaign_id: uuid.UUID, uow: Uow, principal: Manager, request: Request) -> Any:
    return await _move(uow, principal, campaign_id, request, dc.CampaignAction.CANCEL)


@router.get(
    "/campaigns/{campaign_id}/summary",
    summary="Rollup: time, budget, goal progress, risks, milestones and insights",
)
async def summary(campaign_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal) -> Any:
    c = await repo.get_owned(
        uow.session, t.Campaign, campaign_id, principal.workspace_id, "campaign"
    )
    now = uow.now()
    ids = [uuid.UUID(g) for g in c.goal_ids]
    goals = await uow.session.scalars(
        select(t.Goal).where(
            t.Goal.workspace_id == principal.workspace_id,
            or_(t.Goal.id.in_(ids), t.Goal.campaign_id == c.id),
        )
    )
    progress = []
    for g in goals:
        pace = Pace.compute(
            repo.goal_current(g), g.baseline, g.target, g.period_start, g.period_end, now
        )
        on_track = pace.on_track if g.status == GoalStatus.ACTIVE.value else g.status == "achieved"
        progress.append(repo.goal_progress(g, on_track))
    domain = replace(to_domain(c), goal_ids=tuple(p.goal_id for p in progress))
    insights = await repo.insights(uow.session, principal.workspace_id)
    return dc.summarise_campaign(domain, progress, insights, now)
