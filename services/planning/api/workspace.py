"""Workspace settings (name, time zone, blackout dates, calendar feed) and the team."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from services.planning import repository as repo
from services.planning import tables as t
from services.planning.api.common import WRITE_RESPONSES, Cursor, Limit, Manager, tagged
from services.planning.api.schemas import MemberIn, MemberPatch, WorkspaceIn
from services.planning.domain.timezones import validate_timezone
from shared.auth import ROLES
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match, idempotent_create

router = APIRouter(prefix="/v1", tags=["workspace"])


def feed_path(ws: t.Workspace) -> str:
    return f"/v1/calendar/feeds/{ws.feed_secret}.ics"


def workspace_json(ws: t.Workspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "name": ws.name,
        "timezone": ws.timezone,
        "blackout_dates": ws.blackout_dates,
        "calendar_feed_path": feed_path(ws),
        "feed_rotated_at": ws.feed_rotated_at,
        "version": ws.version,
        "updated_at": ws.updated_at,
    }


@router.get("/workspace", summary="The caller's workspace settings (created on first use)")
async def get_workspace(uow: Uow, principal: CurrentPrincipal) -> Any:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    return tagged(workspace_json(ws), ws.version)


def _blackouts(body: WorkspaceIn) -> list[dict[str, Any]]:
    out = []
    for i, b in enumerate(body.blackout_dates or []):
        last: date = b.last_day or b.first_day
        if last < b.first_day:
            raise Unprocessable(
                "must not be before first_day", field=f"blackout_dates.{i}.last_day"
            )
        out.append(
            {
                "first_day": b.first_day.isoformat(),
                "last_day": last.isoformat(),
                "reason": b.reason,
                "account_ids": b.account_ids,
            }
        )
    return out


@router.put(
    "/workspace",
    summary="Change settings: name, IANA time zone, blackout dates; rotate the feed secret",
    description="Fields left out keep their value. `rotate_feed_secret: true` issues a new "
    "calendar feed link; the old one stops working at once. `If-Match` is honoured.",
    responses=WRITE_RESPONSES,
)
async def put_workspace(body: WorkspaceIn, uow: Uow, principal: Manager, request: Request) -> Any:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    check_if_match(request, ws.version)
    if body.timezone is not None:
        ws.timezone = validate_timezone(body.timezone, "timezone").key
    if body.name is not None:
        ws.name = body.name
    if body.blackout_dates is not None:
        ws.blackout_dates = _blackouts(body)
    if body.rotate_feed_secret:
        ws.feed_secret = repo.new_feed_secret()
        ws.feed_rotated_at = uow.now()
    ws.version += 1
    await uow.session.flush()
    return tagged(workspace_json(ws), ws.version)


@router.post(
    "/workspace/calendar-feed/rotate",
    summary="Issue a new secret calendar link; the old link stops working",
)
async def rotate_feed(uow: Uow, principal: Manager) -> Any:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    ws.feed_secret = repo.new_feed_secret()
    ws.feed_rotated_at = uow.now()
    ws.version += 1
    await uow.session.flush()
    return tagged(workspace_json(ws), ws.version)


# --- members -------------------------------------------------------------------------------


def member_json(m: t.Member) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "user_id": m.user_id,
        "display_name": m.display_name,
        "roles": m.roles,
        "capacity_per_week": m.capacity_per_week,
        "skills": m.skills,
        "version": m.version,
        "created_at": m.created_at,
    }


def _check_roles(roles: list[str], field: str = "roles") -> list[str]:
    unknown = sorted(set(roles) - ROLES)
    if unknown:
        raise Unprocessable(
            f"unknown roles {unknown}; known: {', '.join(sorted(ROLES))}", field=field
        )
    return sorted(set(roles))


@router.post(
    "/members",
    status_code=201,
    summary="Add a member (managers), or join yourself (user_id left out = your token's sub)",
    responses=WRITE_RESPONSES,
)
async def add_member(
    body: MemberIn, uow: Uow, principal: CurrentPrincipal, request: Request
) -> Any:
    user_id = body.user_id or principal.sub
    roles = _check_roles(body.roles) if body.roles else sorted(principal.roles)
    if not principal.has_any("manager"):
        if user_id != principal.sub:
            raise Forbidden("only a manager adds other people", field="user_id")
        if not set(roles) <= principal.roles:
            raise Forbidden("you can only list roles your token has", field="roles")

    async def create() -> tuple[int, Any, dict[str, str]]:
        await repo.workspace(uow.session, principal.workspace_id)
        if await repo.member(uow.session, principal.workspace_id, user_id) is not None:
            raise Conflict(f"{user_id} is already a member", field="user_id")
        m = t.Member(
            workspace_id=principal.workspace_id,
            user_id=user_id,
            display_name=body.display_name,
            roles=roles,
            capacity_per_week=body.capacity_per_week,
            skills=body.skills,
        )
        uow.session.add(m)
        await uow.session.flush()
        return 201, member_json(m), {"ETag": f'"{m.version}"'}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


@router.get("/members", summary="The team: roles, weekly capacity, skills")
async def list_members(
    uow: Uow, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> Any:
    stmt = select(t.Member).where(t.Member.workspace_id == principal.workspace_id)
    rows, nxt = await repo.page(uow.session, stmt, t.Member, limit, cursor)
    return {"items": [member_json(m) for m in rows], "next_cursor": nxt}


async def _member_or_404(uow: Uow, workspace_id: str, user_id: str) -> t.Member:
    m = await repo.member(uow.session, workspace_id, user_id)
    if m is None:
        raise NotFound("no such member", field="user_id")
    return m


@router.get("/members/{user_id}", summary="One member")
async def get_member(user_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    m = await _member_or_404(uow, principal.workspace_id, user_id)
    return tagged(member_json(m), m.version)


@router.patch(
    "/members/{user_id}",
    summary="Change a member (managers; members may change their own capacity and skills)",
    responses=WRITE_RESPONSES,
)
async def patch_member(
    user_id: str, body: MemberPatch, uow: Uow, principal: CurrentPrincipal, request: Request
) -> Any:
    is_manager = principal.has_any("manager")
    if not is_manager and (user_id != principal.sub or body.roles is not None):
        raise Forbidden("a member may change only their own capacity, skills and name")
    m = await _member_or_404(uow, principal.workspace_id, user_id)
    check_if_match(request, m.version)
    if body.display_name is not None:
        m.display_name = body.display_name
    if body.roles is not None:
        m.roles = _check_roles(body.roles)
    if body.capacity_per_week is not None:
        m.capacity_per_week = body.capacity_per_week
    if body.skills is not None:
        m.skills = body.skills
    m.version += 1
    await uow.session.flush()
    return tagged(member_json(m), m.version)


@router.delete("/members/{user_id}", status_code=204, summary="Remove a member (managers)")
async def delete_member(user_id: str, uow: Uow, principal: Manager) -> None:
    m = await _member_or_404(uow, principal.workspace_id, user_id)
    await uow.session.delete(m)
