"""Bits every content router uses: role gates, ETag answers, paging arguments, JSON views."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.content import tables as t
from shared.auth import Principal
from shared.errors import Unprocessable
from shared.http import etag, require_roles
from shared.http.app import PROBLEM_SCHEMA
from shared.http.responses import json_response

# Who may do what (the whole workspace reads).
MAKER_ROLES = ("manager", "editor", "planner", "designer", "video")
Maker = Annotated[Principal, Depends(require_roles(*MAKER_ROLES))]
Manager = Annotated[Principal, Depends(require_roles("manager"))]

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: PROBLEM_SCHEMA,
    412: PROBLEM_SCHEMA,
    428: PROBLEM_SCHEMA,
}


def tagged(body: Any, version: int, status_code: int = 200) -> Response:
    return json_response(body, status_code=status_code, headers={"ETag": etag(version)})


def utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def item_json(item: t.Item) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "title": item.title,
        "format": item.format,
        "summary": item.summary,
        "body": item.body,
        "script": item.script,
        "tags": item.tags,
        "cover_asset_id": item.cover_asset_id,
        "asset_ids": [m["asset_id"] for m in item.media if m.get("asset_id")],
        "media": item.media,
        "link": item.link,
        "topic_id": item.topic_id,
        "campaign_id": item.campaign_id,
        "important": item.important,
        "pillar": item.pillar,
        "planned_for": utc(item.planned_for),
        "account_ids": item.account_ids,
        "title_alternatives": item.title_alternatives,
        "owner": item.owner,
        "status": item.status,
        "version": item.version,
        "content_hash": item.content_hash,
        "approved_version": item.approved_version,
        "approved_hash": item.approved_hash,
        "review": {
            "stage": item.review_stage,
            "entered_at": utc(item.stage_entered_at),
            "due_at": utc(item.stage_due_at),
        },
        "publications": item.publications,
        "created_at": utc(item.created_at),
        "updated_at": utc(item.updated_at),
    }


def asset_media(asset: t.Asset, role: str | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {
        "asset_id": str(asset.id),
        "kind": asset.kind,
        "mime": asset.mime,
        "size_bytes": asset.size_bytes,
    }
    if asset.width is not None:
        media["width"], media["height"] = asset.width, asset.height
    if role:
        media["role"] = role
    return media


async def resolve_media(
    session: AsyncSession,
    workspace_id: str,
    refs: Iterable[tuple[uuid.UUID, str | None]],
    field: str,
) -> list[dict[str, Any]]:
    """Asset ids -> media entries (kind, size, dimensions); an unknown id or an asset that is
    not an image, GIF or video is a 422 naming the field."""
    refs = list(refs)
    if not refs:
        return []
    ids = {r for r, _ in refs}
    rows = await session.scalars(
        select(t.Asset).where(t.Asset.workspace_id == workspace_id, t.Asset.id.in_(ids))
    )
    found = {a.id: a for a in rows}
    out: list[dict[str, Any]] = []
    for asset_id, role in refs:
        asset = found.get(asset_id)
        if asset is None:
            raise Unprocessable(f"no such asset {asset_id}", field=field)
        if asset.kind not in ("image", "gif", "video"):
            raise Unprocessable(
                f"asset {asset_id} is {asset.mime}: media takes images, GIFs and videos",
                field=field,
            )
        out.append(asset_media(asset, role))
    return out
