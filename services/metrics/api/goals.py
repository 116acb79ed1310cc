"""Goals as planning defined them, with their measured progress."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.metrics.repository import GOAL_COLUMNS, goal_from_row, goal_json, measure_goal
from services.metrics.warehouse import driver, workspace_timezone
from shared.errors import NotFound
from shared.http import CurrentPrincipal, Uow, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1", tags=["goals"])


@router.get("/goals", summary="Goals with their current value, ratio, expected value, on_track")
async def list_goals(
    uow: Uow,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    ws = principal.workspace_id
    after = decode_cursor(cursor)
    pg = await driver(uow.session)
    rows = await pg.fetch(
        f"SELECT {GOAL_COLUMNS} FROM metrics.goals WHERE workspace_id = $1 "
        "AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid)) "
        "ORDER BY created_at, id LIMIT $4",
        ws,
        after[0] if after else None,
        after[1] if after else uuid.UUID(int=0),
        limit + 1,
    )
    tz = await workspace_timezone(uow.session, ws)
    now = uow.now()
    items = [
        goal_json(r, await measure_goal(uow.session, ws, goal_from_row(r), tz, now))
        for r in rows[:limit]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return {
        "items": items,
        "next_cursor": encode_cursor(last["created_at"], last["id"]) if last else None,
    }


@router.get("/goals/{goal_id}", summary="One goal and its progress, measured now")
async def get_goal(
    goal_id: Annotated[str, Path(max_length=64)], uow: Uow, principal: CurrentPrincipal
) -> dict[str, Any]:
    ws = principal.workspace_id
    pg = await driver(uow.session)
    row = await pg.fetchrow(
        f"SELECT {GOAL_COLUMNS} FROM metrics.goals WHERE workspace_id = $1 AND goal_id = $2",
        ws,
        goal_id,
    )
    if row is None:
        raise NotFound("no such goal in this workspace", field="goal_id")
    tz = await workspace_timezone(uow.session, ws)
    status = await measure_goal(uow.session, ws, goal_from_row(row), tz, uow.now())
    return goal_json(row, status)
