"""Current recommendations with the numbers behind them."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.metrics.warehouse import driver
from shared.http import CurrentPrincipal, Uow, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1", tags=["insights"])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@router.get(
    "/insights",
    summary="Current recommendations (best hours, format/pillar/topic performance, channel "
    "weights, title tests, goals at risk, anomalies) with their evidence",
)
async def list_insights(
    uow: Uow,
    principal: CurrentPrincipal,
    kind: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    after = decode_cursor(cursor)
    pg = await driver(uow.session)
    rows = await pg.fetch(
        "SELECT id, key, kind, scope, recommendation, evidence, confidence, created_at, "
        "updated_at FROM metrics.insights WHERE workspace_id = $1 "
        "AND ($2::text IS NULL OR kind = $2) "
        "AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid)) "
        "ORDER BY created_at, id LIMIT $5",
        principal.workspace_id,
        kind,
        after[0] if after else None,
        after[1] if after else uuid.UUID(int=0),
        limit + 1,
    )
    items = [
        {
            "id": str(r["id"]),
            "key": r["key"],
            "kind": r["kind"],
            "scope": _json(r["scope"]),
            "recommendation": r["recommendation"],
            "evidence": _json(r["evidence"]),
            "confidence": r["confidence"],
            "created_at": r["created_at"].isoformat(),
            "updated_at": r["updated_at"].isoformat(),
        }
        for r in rows[:limit]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return {
        "items": items,
        "next_cursor": encode_cursor(last["created_at"], last["id"]) if last else None,
    }
