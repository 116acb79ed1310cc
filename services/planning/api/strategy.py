"""Content strategy: pillars (target share of output), personas, competitors, partners."""

import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select, update

from services.planning import repository as repo
from services.planning import tables as t
from services.planning.api.common import WRITE_RESPONSES, Cursor, Limit, tagged
from services.planning.api.common import Approver as Strategist  # managers and planners
from services.planning.api.schemas import (
    CompetitorIn,
    CompetitorPatch,
    PartnerIn,
    PartnerPatch,
    PersonaIn,
    PersonaPatch,
    PillarIn,
    PillarPatch,
)
from services.planning.domain.campaigns import to_amount, validate_currency
from services.planning.domain.errors import DomainError
from services.planning.domain.strategy import Persona, Pillar, validate_pillars
from shared.errors import Conflict, Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match, idempotent_create

router = APIRouter(prefix="/v1", tags=["strategy"])


# --- pillars -------------------------------------------------------------------------------


def pillar_json(p: t.Pillar) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.name,
        "target_share": p.target_share,
        "description": p.description,
        "version": p.version,
        "created_at": p.created_at,
    }


async def _check_pillars(uow: Uow, workspace_id: str, changed: t.Pillar | None) -> None:
    rows = list(
        await uow.session.scalars(select(t.Pillar).where(t.Pillar.workspace_id == workspace_id))
    )
    others = [p for p in rows if changed is None or p.id != changed.id]
    if changed is not None:
        for other in others:
            if other.name.strip().lower() == changed.name.strip().lower():
                raise Conflict(f"a pillar named {changed.name!r} exists", field="name")
    candidates = [Pillar(p.name, p.target_share) for p in others]
    if changed is not None:
        candidates.append(Pillar(changed.name, changed.target_share))
    try:
        validate_pillars(candidates)
    except DomainError as exc:
        field = "target_share" if exc.field == "pillars" else "name"
        raise Unprocessable(exc.message, field=field) from None


@router.post("/pillars", status_code=201, summary="Add a content pillar", responses=WRITE_RESPONSES)
async def create_pillar(body: PillarIn, uow: Uow, principal: Strategist, request: Request) -> Any:
    async def create() -> tuple[int, Any, dict[str, str]]:
        p = t.Pillar(
            id=uuid.uuid4(),
            workspace_id=principal.workspace_id,
            name=body.name,
            target_share=body.target_share,
            description=body.description,
            version=1,
        )
        await _check_pillars(uow, principal.workspace_id, p)
        uow.session.add(p)
        await uow.session.flush()
        return 201, pillar_json(p), {"ETag": '"1"'}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


@router.get("/pillars", summary="Pillars with their target share and the actual share of output")
async def list_pillars(uow: Uow, principal: CurrentPrincipal) -> Any:
    rows = await uow.session.scalars(
        select(t.Pillar)
        .where(t.Pillar.workspace_id == principal.workspace_id)
        .order_by(t.Pillar.name)
    )
    shares = await repo.actual_pillar_shares(uow.session, principal.workspace_id, uow.now())
    items = [{**pillar_json(p), "actual_share": round(shares.get(p.name, 0.0), 4)} for p in rows]
    return {"items": items, "next_cursor": None}


@router.get("/pillars/{pillar_id}", summary="One pillar")
async def get_pillar(pillar_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal) -> Any:
    p = await repo.get_owned(uow.session, t.Pillar, pillar_id, principal.workspace_id, "pillar")
    return tagged(pillar_json(p), p.version)


@router.patch("/pillars/{pillar_id}", summary="Change a pillar", responses=WRITE_RESPONSES)
async def patch_pillar(
    pillar_id: uuid.UUID, body: PillarPatch, uow: Uow, principal: Strategist, request: Request
) -> Any:
    p = await repo.get_for_update(
        uow.session, t.Pillar, pillar_id, principal.workspace_id, "pillar"
    )
    check_if_match(request, p.version)
    old_name = p.name
    if body.name is not None:
        p.name = body.name
    if body.target_share is not None:
        p.target_share = body.target_share
    if body.description is not None:
        p.description = body.description
    await _check_pillars(uow, principal.workspace_id, p)
    if p.name != old_name:  # topics name their pillar: follow the rename
        await uow.session.execute(
            update(t.Topic)
            .where(t.Topic.workspace_id == principal.workspace_id, t.Topic.pillar == old_name)
            .values(pillar=p.name)
        )
    p.version += 1
    await uow.session.flush()
    return tagged(pillar_json(p), p.version)


@router.delete("/pillars/{pillar_id}", status_code=204, summary="Remove a pillar")
async def delete_pillar(pillar_id: uuid.UUID, uow: Uow, principal: Strategist) -> None:
    p = await repo.get_owned(uow.session, t.Pillar, pillar_id, principal.workspace_id, "pillar")
    await uow.session.delete(p)


# --- personas, competitors, partners: plain CRUD with validation -----------------------------


def persona_json(p: t.Persona) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.name,
        "description": p.description,
        "interests": p.interests,
        "active_hours": p.active_hours,
        "preferred_channels": p.preferred_channels,
        "version": p.version,
        "created_at": p.created_at,
    }


def competitor_json(c: t.Competitor) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "name": c.name,
        "accounts": c.accounts,
        "notes": c.notes,
        "version": c.version,
        "created_at": c.created_at,
    }


def partner_json(p: t.Partner) -> dict[str, Any]:
    rate = (
        {"amount": format(p.rate_amount.normalize(), "f"), "currency": p.rate_currency}
        if p.rate_amount is not None
        else None
    )
    return {
        "id": str(p.id),
        "name": p.name,
        "kind": p.kind,
        "channels": p.channels,
        "audience": p.audience,
        "rate": rate,
        "contact": p.contact,
        "notes": p.notes,
        "version": p.version,
        "created_at": p.created_at,
    }


def _persona_values(data: dict[str, Any]) -> dict[str, Any]:
    Persona(
        name=data["name"],
        interests=tuple(data.get("interests", ())),
        active_hours=tuple(data.get("active_hours", ())),
        preferred_channels=tuple(data.get("preferred_channels", ())),
    )
    data["active_hours"] = sorted(set(data.get("active_hours", [])))
    return data


def _partner_values(data: dict[str, Any]) -> dict[str, Any]:
    rate = data.pop("rate", None)
    if rate is None:
        data["rate_amount"], data["rate_currency"] = None, None
    else:
        code = validate_currency(rate["currency"], "rate.currency")
        data["rate_amount"] = to_amount(rate["amount"], code, "rate.amount")
        data["rate_currency"] = code
    return data


NULLABLE = frozenset({"audience", "rate"})


KINDS: dict[str, dict[str, Any]] = {
    "personas": {
        "model": t.Persona,
        "create": PersonaIn,
        "patch": PersonaPatch,
        "json": persona_json,
        "values": _persona_values,
        "what": "persona",
    },
    "competitors": {
        "model": t.Competitor,
        "create": CompetitorIn,
        "patch": CompetitorPatch,
        "json": competitor_json,
        "values": lambda d: d,
        "what": "competitor",
    },
    "partners": {
        "model": t.Partner,
        "create": PartnerIn,
        "patch": PartnerPatch,
        "json": partner_json,
        "values": _partner_values,
        "what": "partner",
    },
}


def _register(path: str, spec: dict[str, Any]) -> None:
    model, to_json, values, what = spec["model"], spec["json"], spec["values"], spec["what"]
    create_model, patch_model = spec["create"], spec["patch"]

    async def create(body: create_model, uow: Uow, principal: Strategist, request: Request) -> Any:  # type: ignore[valid-type]
        async def do() -> tuple[int, Any, dict[str, str]]:
            data = values(body.model_dump(mode="python"))  # type: ignore[attr-defined]
            row = model(workspace_id=principal.workspace_id, version=1, **data)
            uow.session.add(row)
            await uow.session.flush()
            return 201, to_json(row), {"ETag": '"1"'}

        return await idempotent_create(request, uow, principal.workspace_id, body, do)

    async def listing(
        uow: Uow, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
    ) -> Any:
        stmt = select(model).where(model.workspace_id == principal.workspace_id)
        rows, nxt = await repo.page(uow.session, stmt, model, limit, cursor)
        return {"items": [to_json(r) for r in rows], "next_cursor": nxt}

    async def get_one(item_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal) -> Any:
        row = await repo.get_owned(uow.session, model, item_id, principal.workspace_id, what)
        return tagged(to_json(row), row.version)

    async def patch(
        item_id: uuid.UUID,
        body: patch_model,  # type: ignore[valid-type]
        uow: Uow,
        principal: Strategist,
        request: Request,
    ) -> Any:
        row = await repo.get_for_update(uow.session, model, item_id, principal.workspace_id, what)
        check_if_match(request, row.version)
        changes = body.model_dump(mode="python", exclude_unset=True)  # type: ignore[attr-defined]
        for key, value in changes.items():
            if value is None and key not in NULLABLE:
                raise Unprocessable("must not be null", field=key)
        if what == "persona":
            merged = _persona_values(persona_json(row) | changes)
            changes = {k: merged[k] for k in changes}
        elif what == "partner" and "rate" in changes:
            changes = _partner_values(changes)
        for key, value in changes.items():
            setattr(row, key, value)
        row.version += 1
        await uow.session.flush()
        return tagged(to_json(row), row.version)

    async def delete(item_id: uuid.UUID, uow: Uow, principal: Strategist) -> None:
        row = await repo.get_owned(uow.session, model, item_id, principal.workspace_id, what)
        await uow.session.delete(row)

    router.add_api_route(
        f"/{path}",
        create,
        methods=["POST"],
        status_code=201,
        summary=f"Add a {what}",
        responses=WRITE_RESPONSES,
    )
    router.add_api_route(f"/{path}", listing, methods=["GET"], summary=f"List {path}")
    router.add_api_route(f"/{path}/{{item_id}}", get_one, methods=["GET"], summary=f"One {what}")
    router.add_api_route(
        f"/{path}/{{item_id}}",
        patch,
        methods=["PATCH"],
        summary=f"Change a {what}",
        responses=WRITE_RESPONSES,
    )
    router.add_api_route(
        f"/{path}/{{item_id}}",
        delete,
        methods=["DELETE"],
        status_code=204,
        summary=f"Remove a {what}",
    )


for _path, _spec in KINDS.items():
    _register(_path, _spec)
