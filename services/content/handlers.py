"""Event handlers of the content service. Queue bindings are derived from this dict.

- planning.topic.approved -> a draft item for the topic (one per topic, idempotent), with
  the production tasks of its format.
- publisher.publication.published -> the publication's refs are kept on the item; an
  approved item becomes published.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select

from services.content import repository as repo
from services.content import tables as t
from services.content.domain.items import FORMATS
from services.content.domain.review import ItemStatus, can_transition
from shared.events import CloudEvent
from shared.events.catalog.planning import TopicApproved
from shared.events.catalog.publisher import PublicationPublished
from shared.service import EventHandler, HandlerContext

log = logging.getLogger("mediaops.content")

TOPIC_APPROVED = "mediaops.planning.topic.approved"
PUBLISHED = "mediaops.publisher.publication.published"
ITEM_PUBLISHED = "mediaops.content.item.published"


def _emitter(ctx: HandlerContext) -> repo.Emit:
    async def emit(type_: str, data: Any, subject: str | None) -> Any:
        return await ctx.emit(type_, data, subject=subject)

    return emit


async def on_topic_approved(ctx: HandlerContext, event: CloudEvent) -> None:
    from services.content.api.items import create_item

    data = TopicApproved.model_validate(event.data)
    ws = event.workspaceid
    exists = await ctx.session.scalar(
        select(t.Item.id).where(
            t.Item.workspace_id == ws, t.Item.topic_id == data.topic_id, t.Item.from_topic
        )
    )
    if exists is not None:
        return  # one item per topic, whatever the redeliveries
    fmt = data.format if data.format in FORMATS else "article"
    values = {
        "title": data.title[:500],
        "format": fmt,
        "body": "",
        "summary": None,
        "topic_id": data.topic_id,
        "campaign_id": data.campaign_id,
        "important": False,
        "tags": [],
        "link": None,
        "planned_for": data.planned_for,
        "account_ids": [],
        "pillar": data.pillar,
        "title_alternatives": [],
        "script": None,
        "cover_asset_id": None,
        "media": [],
    }
    owner = data.assignee or "planning"
    async with ctx.session.begin_nested():
        await create_item(ctx.session, ws, owner, values, ctx.now(), _emitter(ctx), from_topic=True)


async def on_published(ctx: HandlerContext, event: CloudEvent) -> None:
    data = PublicationPublished.model_validate(event.data)
    try:
        item_id = uuid.UUID(data.item_id)
    except ValueError:
        return
    item = await ctx.session.scalar(
        select(t.Item)
        .where(t.Item.id == item_id, t.Item.workspace_id == event.workspaceid)
        .with_for_update()
    )
    if item is None:
        log.warning("publication of an unknown item", extra={"item_id": data.item_id})
        return
    refs = list(item.publications or [])
    if any(r.get("publication_id") == data.publication_id for r in refs):
        return
    refs.append(
        {
            "publication_id": data.publication_id,
            "variant_id": data.variant_id,
            "account_id": data.account_id,
            "channel": data.channel,
            "external_id": data.external_id,
            "url": data.url,
            "published_at": data.published_at.isoformat(),
        }
    )
    item.publications = refs
    status = ItemStatus(item.status)
    if status is not ItemStatus.PUBLISHED and can_transition(status, ItemStatus.PUBLISHED):
        item.status = ItemStatus.PUBLISHED.value
        item.updated_at = ctx.now()
    await ctx.emit(
        ITEM_PUBLISHED,
        {
            "item_id": str(item.id),
            "publication_id": data.publication_id,
            "channel": data.channel,
            "version": item.version,
            "url": data.url,
            "published_at": data.published_at,
        },
        subject=str(item.id),
    )


EVENT_HANDLERS: dict[str, list[EventHandler]] = {
    TOPIC_APPROVED: [on_topic_approved],
    PUBLISHED: [on_published],
}
