"""`/v1/channels`, `/v1/feeds/{account_id}.atom` and `/v1/ops/queue`."""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from services.publisher.connectors.registry import available_channels, known_channels
from services.publisher.connectors.rss import FeedMeta, render_atom
from services.publisher.feeds import DbFeedStore
from services.publisher.ops import queue_snapshot
from services.publisher.repository import get_account
from shared.errors import NotFound
from shared.http import CurrentPrincipal, Uow
from shared.http.app import PROBLEM_SCHEMA

log = logging.getLogger("mediaops.publisher")
router = APIRouter(prefix="/v1", tags=["channels", "ops"])


def _rules(channel: str) -> dict[str, Any] | None:
    """The channel's platform rules from `shared.platforms`, if that package has them."""
    try:
        from shared.platforms import describe, get_rules
    except Exception:  # not importable yet: channels still list, without rules
        return None
    try:
        described: Any = describe(get_rules(channel))
    except Exception:  # a channel the rules do not cover
        return None
    if is_dataclass(described) and not isinstance(described, type):
        described = asdict(described)
    return described if isinstance(described, dict) else {"description": str(described)}


@router.get("/channels", summary="The connectors and their platform rules")
async def channels(_principal: CurrentPrincipal) -> dict[str, Any]:
    available = set(available_channels())
    return {
        "items": [
            {"channel": c, "available": c in available, "rules": _rules(c)}
            for c in known_channels()
        ]
    }


@router.get(
    "/feeds/{account_id}.atom",
    summary="The Atom feed of an RSS account (public: feed readers carry no token)",
    responses={200: {"content": {"application/atom+xml": {}}}, 404: PROBLEM_SCHEMA},
)
async def feed(account_id: str, uow: Uow) -> Response:
    from sqlalchemy import select

    from services.publisher.repository import parse_uuid
    from services.publisher.tables import Account

    row = await uow.session.scalar(
        select(Account).where(Account.id == parse_uuid(account_id, "account_id"))
    )
    if row is None or row.channel != "rss" or row.status == "disabled":
        raise NotFound("no such feed", field="account_id")
    entries = await DbFeedStore(uow.ctx.db).list_entries(str(row.id), limit=50)
    settings = row.settings or {}
    self_url = settings.get("feed_url") or f"/v1/feeds/{row.id}.atom"
    meta = FeedMeta(
        feed_id=f"urn:uuid:{row.id}",
        title=settings.get("title") or row.name,
        self_url=self_url,
        updated=row.created_at or datetime.now(UTC),
        site_url=settings.get("site_url"),
        author_name=settings.get("author") or row.name,
        subtitle=settings.get("subtitle"),
    )
    return Response(render_atom(meta, entries), media_type="application/atom+xml")


@router.get("/ops/queue", summary="Is work flowing? Queue depth, live consumers, overdue")
async def ops_queue(uow: Uow, principal: CurrentPrincipal) -> dict[str, Any]:
    return await queue_snapshot(uow.ctx)


__all__ = ["get_account"]
