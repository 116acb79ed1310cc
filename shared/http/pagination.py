"""Cursor pagination over (created_at, id): stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shared.errors import Unprocessable

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(created_at: datetime, id: uuid.UUID | str) -> str:
    raw = json.dumps([created_at.isoformat(), str(id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, id_ = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(ts), uuid.UUID(id_)
    except (ValueError, TypeError) as exc:
        raise Unprocessable("cursor is not one this API returned", field="cursor") from exc


async def paginate(
    session: Any, stmt: Any, model: Any, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of `stmt` ordered by (created_at, id) after `cursor`, and the next cursor."""
    from sqlalchemy import and_, or_

    after = decode_cursor(cursor)
    if after is not None:
        created, id_ = after
        stmt = stmt.where(
            or_(model.created_at > created, and_(model.created_at == created, model.id > id_))
        )
    rows = list(
        (await session.scalars(stmt.order_by(model.created_at, model.id).limit(limit + 1))).all()
    )
    nxt = (
        encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return rows[:limit], nxt
