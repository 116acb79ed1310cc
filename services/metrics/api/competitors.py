"""Competitor accounts and their figures (compared in the report)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.metrics.api.schemas import (
    CompetitorIn,
    CompetitorPointIn,
    CompetitorPointsIn,
    IngestResult,
)
from services.metrics.config import config_of
from services.metrics.domain.dictionary import validate_point
from services.metrics.warehouse import driver
from shared.auth import Principal
from shared.errors import Conflict, NotFound
from shared.http import (
    CurrentPrincipal,
    Uow,
    decode_cursor,
    encode_cursor,
    idempotent_create,
    require_roles,
)
from shared.http.app import PROBLEM_SCHEMA

router = APIRouter(prefix="/v1", tags=["competitors"])
Writer = Annotated[Principal, Depends(require_roles("analyst", "manager"))]


def _competitor(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "channel": row["channel"],
        "handle": row["handle"],
        "created_at": row["created_at"].isoformat(),
    }


@router.post(
    "/competitors",
    status_code=201,
    summary="Follow a competitor account",
    responses={403: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA},
)
async def create_competitor(
    body: CompetitorIn, uow: Uow, principal: Writer, request: Request
) -> JSONResponse:
    ws = principal.workspace_id

    async def create() -> tuple[int, Any, dict[str, str]]:
        pg = await driver(uow.session)
        row = await pg.fetchrow(
            "INSERT INTO metrics.competitors (id, workspace_id, name, channel, handle) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING "
            "RETURNING id, name, channel, handle, created_at",
            uuid.uuid4(),
            ws,
            body.name,
            body.channel,
            body.handle,
        )
        if row is None:
            raise Conflict("a competitor with this name is already followed on this channel")
        return 201, _competitor(row), {}

    return await idempotent_create(request, uow, ws, body, create)


@router.get("/competitors", summary="Followed competitor accounts")
async def list_competitors(
    uow: Uow,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    after = decode_cursor(cursor)
    pg = await driver(uow.session)
    rows = await pg.fetch(
        "SELECT id, name, channel, handle, created_at FROM metrics.competitors "
        "WHERE workspace_id = $1 "
        "AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid)) "
        "ORDER BY created_at, id LIMIT $4",
        principal.workspace_id,
        after[0] if after else None,
        after[1] if after else uuid.UUID(int=0),
        limit + 1,
    )
    last = rows[limit - 1] if len(rows) > limit else None
    return {
        "items": [_competitor(r) for r in rows[:limit]],
        "next_cursor": encode_cursor(last["created_at"], last["id"]) if last else None,
    }


@router.post(
    "/competitors/{competitor_id}/points",
    status_code=202,
    summary="Store a competitor's figures (same checks as /v1/points)",
    response_model=IngestResult,
    response_model_exclude_none=True,
    responses={403: PROBLEM_SCHEMA},
)
async def post_competitor_points(
    competitor_id: Annotated[uuid.UUID, Path()],
    body: CompetitorPointsIn,
    uow: Uow,
    principal: Writer,
) -> JSONResponse:
    ws = principal.workspace_id
    pg = await driver(uow.session)
    exists = await pg.fetchval(
        "SELECT 1 FROM metrics.competitors WHERE workspace_id = $1 AND id = $2", ws, competitor_id
    )
    if not exists:
        raise NotFound("no such competitor in this workspace", field="competitor_id")
    now = uow.now()
    skew = timedelta(seconds=config_of(uow.ctx).max_clock_skew_s)
    errors: list[dict[str, Any]] = []
    good: list[CompetitorPointIn] = []
    for index, row in enumerate(body.points):
        try:
            point = CompetitorPointIn.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "points"
            errors.append({"index": index, "field": field, "message": str(first.get("msg"))})
            continue
        problem = validate_point(point.metric, point.value, point.observed_at, now, skew)
        if problem is not None:
            errors.append({"index": index, "field": problem.field, "message": problem.message})
            continue
        good.append(point)
    status = await pg.execute(
        """
        INSERT INTO metrics.competitor_points (workspace_id, competitor_id, metric, value,
            observed_at, source, captured_at)
        SELECT $1, $2, m, v, o, s, $7
        FROM unnest($3::text[], $4::float8[], $5::timestamptz[], $6::text[]) AS t(m, v, o, s)
        ON CONFLICT DO NOTHING
        """,
        ws,
        competitor_id,
        [p.metric for p in good],
        [p.value for p in good],
        [p.observed_at for p in good],
        [p.source or "api" for p in good],
        now,
    )
    stored = int(status.rsplit(" ", 1)[-1])
    return JSONResponse(
        {
            "accepted": len(good),
            "rejected": len(errors),
            "stored": stored,
            "duplicates": len(good) - stored,
            "errors": errors,
        },
        status_code=202,
    )
