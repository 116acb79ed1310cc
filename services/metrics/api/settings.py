"""The workspace's reporting time zone (planning owns the canonical setting; no event carries
it yet, so metrics keeps its own copy)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends

from services.metrics.api.schemas import SettingsIn
from services.metrics.warehouse import driver, rebuild_rollups, workspace_timezone
from shared.auth import Principal
from shared.errors import Unprocessable
from shared.http import CurrentPrincipal, Uow, require_roles
from shared.http.app import PROBLEM_SCHEMA

router = APIRouter(prefix="/v1", tags=["settings"])


@router.get("/settings", summary="The workspace's metrics settings (time zone)")
async def get_settings(uow: Uow, principal: CurrentPrincipal) -> dict[str, Any]:
    return {"timezone": await workspace_timezone(uow.session, principal.workspace_id)}


@router.put(
    "/settings",
    summary="Set the time zone of days, weeks and best hours (daily rollups are rebuilt)",
    responses={403: PROBLEM_SCHEMA},
)
async def put_settings(
    body: SettingsIn,
    uow: Uow,
    principal: Annotated[Principal, Depends(require_roles("manager", "analyst"))],
) -> dict[str, Any]:
    try:
        ZoneInfo(body.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(f"unknown time zone {body.timezone!r}", field="timezone") from None
    ws = principal.workspace_id
    current = await workspace_timezone(uow.session, ws)
    rebuilt = None
    if current != body.timezone:
        pg = await driver(uow.session)
        await pg.execute(
            "UPDATE metrics.workspaces SET timezone = $2, updated_at = now() "
            "WHERE workspace_id = $1",
            ws,
            body.timezone,
        )
        rebuilt = await rebuild_rollups(uow.session, ws, body.timezone)
    return {"timezone": body.timezone, "rollups_rebuilt": rebuilt}
