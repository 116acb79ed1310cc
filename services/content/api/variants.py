"""Per-channel variants of an item: drafted from the master by the adapter where a field is
omitted, validated against the platform's rules (its own counting unit) on every answer.
A variant's text is part of the item's content: every change is a new item version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from services.content import repository as repo
from services.content import tables as t
from services.content.api.common import (
    WRITE_RESPONSES,
    Maker,
    asset_media,
    tagged,
    utc,
)
from services.content.api.items import emitter
from services.content.api.schemas import MediaRef, VariantIn, VariantPatch
from services.content.domain.adapter import draft_variant
from shared.errors import Conflict, NotFound, Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match
from shared.platforms import RULES, validate_variant

router = APIRouter(prefix="/v1", tags=["variants"])


def problems_of(v: t.Variant) -> list[dict[str, Any]]:
    return [
        p.as_dict()
        for p in validate_variant(
            v.channel,
            title=v.title,
            body=v.body,
            hashtags=v.hashtags,
            media=v.media,
            link=v.link,
        )
    ]


def variant_json(v: t.Variant) -> dict[str, Any]:
    return {
        "id": str(v.id),
        "item_id": str(v.item_id),
        "channel": v.channel,
        "title": v.title,
        "body": v.body,
        "hashtags": v.hashtags,
        "media": v.media,
        "link": v.link,
        "notes": v.notes,
        "problems": problems_of(v),
        "version": v.version,
        "created_at": utc(v.created_at),
        "updated_at": utc(v.updated_at),
    }


def master_of(item: t.Item) -> dict[str, Any]:
    return {
        "title": item.title,
        "body": item.body,
        "summary": item.summary or "",
        "tags": item.tags,
        "media": item.media,
        "link": item.link,
    }


def _channel(channel: str) -> str:
    if channel not in RULES:
        raise Unprocessable(
            f"unknown channel {channel!r}; known: {', '.join(sorted(RULES))}", field="channel"
        )
    return channel


async def _media(uow: Any, ws: str, refs: list[MediaRef]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, ref in enumerate(refs):
        if ref.asset_id is not None:
            asset = await uow.session.scalar(
                select(t.Asset).where(t.Asset.workspace_id == ws, t.Asset.id == ref.asset_id)
            )
            if asset is None:
                raise Unprocessable(f"no such asset {ref.asset_id}", field=f"media[{i}]")
            out.append(asset_media(asset, ref.role))
        elif ref.kind is None:
            raise Unprocessable("a media item needs asset_id or kind", field=f"media[{i}]")
        else:
            out.append(ref.model_dump(exclude_none=True, exclude={"asset_id"}))
    return out


async def _variant(uow: Any, item: t.Item, variant_id: str) -> t.Variant:
    vid = repo.parse_uuid(variant_id, "variant")
    v = await uow.session.scalar(
        select(t.Variant).where(t.Variant.id == vid, t.Variant.item_id == item.id)
    )
    if v is None:
        raise NotFound("no such variant", field="variant_id")
    return v


async def _upsert_draft(uow: Any, item: t.Item, channel: str, given: dict[str, Any]) -> t.Variant:
    draft = draft_variant(channel, master_of(item))
    now = uow.now()
    notes = [n for n in draft.notes if not _overridden(n, given)]
    link = given["link"] if "link" in given else draft.link
    body = given["body"] if given.get("body") is not None else draft.body
    if given.get("body") is not None:
        # The draft's notes about the link describe the drafted text, not the caller's.
        notes = [n for n in notes if not n.startswith("link:")]
        required = link or item.link
        if RULES[channel].body_required_url and required and required not in body:
            body = f"{body.rstrip()} {required}"
            notes.append("link: appended to your text (this platform needs a URL in the post)")
    v = t.Variant(
        workspace_id=item.workspace_id,
        item_id=item.id,
        channel=channel,
        title=given["title"] if "title" in given else draft.title,
        body=body,
        hashtags=given["hashtags"] if given.get("hashtags") is not None else draft.hashtags,
        media=given["media"] if given.get("media") is not None else draft.media,
        link=link,
        notes=notes,
        version=1,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(v)
    return v


def _overridden(note: str, given: dict[str, Any]) -> bool:
    """A draft note about a field the caller wrote themselves is not theirs to read."""
    return any(note.startswith(f"{name}:") for name, value in given.items() if value is not None)


async def _exists(uow: Any, item: t.Item, channel: str) -> bool:
    found = await uow.session.scalar(
        select(t.Variant.id).where(t.Variant.item_id == item.id, t.Variant.channel == channel)
    )
    return found is not None


@router.post(
    "/items/{item_id}/variants",
    status_code=201,
    summary="Add a channel variant; omitted fields are drafted from the master; `problems` "
    "lists what breaks the platform's rules (empty when it fits)",
    responses=WRITE_RESPONSES,
)
async def post_variant(item_id: str, body: VariantIn, uow: Uow, principal: Maker) -> Any:
    ws = principal.workspace_id
    item = await repo.get_item(uow.session, ws, item_id, lock=True)
    repo.ensure_editable(item)
    channel = _channel(body.channel)
    if await _exists(uow, item, channel):
        raise Conflict(f"the item already has a {channel} variant: PATCH it", field="channel")
    given = body.model_dump(exclude_unset=True, exclude={"channel", "media"})
    if body.media is not None:
        given["media"] = await _media(uow, ws, body.media)
    v = await _upsert_draft(uow, item, channel, given)
    await uow.session.flush()
    await repo.save_version(uow.session, item, principal.sub, uow.now(), emitter(uow, ws))
    return tagged(variant_json(v), v.version, 201)


@router.post(
    "/items/{item_id}/variants/draft",
    status_code=201,
    summary="Draft variants for several channels from the master (existing ones are kept)",
    responses=WRITE_RESPONSES,
)
async def draft_variants(
    item_id: str,
    uow: Uow,
    principal: Maker,
    channels: str = Query(..., description="comma-separated, e.g. weibo,x"),
) -> Any:
    ws = principal.workspace_id
    item = await repo.get_item(uow.session, ws, item_id, lock=True)
    repo.ensure_editable(item)
    names = [c.strip() for c in channels.split(",") if c.strip()]
    if not names:
        raise Unprocessable("name at least one channel", field="channels")
    for c in names:
        if c not in RULES:
            raise Unprocessable(
                f"unknown channel {c!r}; known: {', '.join(sorted(RULES))}", field="channels"
            )
    created: list[t.Variant] = []
    skipped: list[str] = []
    for c in dict.fromkeys(names):
        if await _exists(uow, item, c):
            skipped.append(c)
            continue
        created.append(await _upsert_draft(uow, item, c, {}))
    if created:
        await uow.session.flush()
        await repo.save_version(uow.session, item, principal.sub, uow.now(), emitter(uow, ws))
    return {
        "items": [variant_json(v) for v in created],
        "skipped": skipped,
        "item_version": item.version,
    }


@router.get("/items/{item_id}/variants", summary="The item's variants with their problems")
async def list_variants(item_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    rows = await repo.variants_of(uow.session, item.id)
    return {"items": [variant_json(v) for v in rows], "next_cursor": None}


@router.get("/items/{item_id}/variants/{variant_id}", summary="One variant")
async def get_variant(item_id: str, variant_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    v = await _variant(uow, item, variant_id)
    return tagged(variant_json(v), v.version)


@router.patch(
    "/items/{item_id}/variants/{variant_id}",
    summary="Edit a variant with If-Match (a new item version)",
    responses=WRITE_RESPONSES,
)
async def patch_variant(
    item_id: str,
    variant_id: str,
    body: VariantPatch,
    uow: Uow,
    principal: Maker,
    request: Request,
) -> Any:
    ws = principal.workspace_id
    item = await repo.get_item(uow.session, ws, item_id, lock=True)
    v = await _variant(uow, item, variant_id)
    check_if_match(request, v.version, required=True)
    repo.ensure_editable(item)
    given = body.model_dump(exclude_unset=True)
    if "media" in given:
        v.media = await _media(uow, ws, body.media or [])
    for name in ("title", "link"):
        if name in given:
            setattr(v, name, given[name])
    if "body" in given:
        v.body = given["body"] or ""
    if "hashtags" in given:
        v.hashtags = list(given["hashtags"] or [])
    v.notes = [n for n in v.notes if not _overridden(n, given)]
    v.version += 1
    v.updated_at = uow.now()
    await uow.session.flush()
    await repo.save_version(uow.session, item, principal.sub, uow.now(), emitter(uow, ws))
    return tagged(variant_json(v), v.version)


@router.delete(
    "/items/{item_id}/variants/{variant_id}",
    status_code=204,
    summary="Remove a variant (a new item version)",
)
async def delete_variant(item_id: str, variant_id: str, uow: Uow, principal: Maker) -> Response:
    ws = principal.workspace_id
    item = await repo.get_item(uow.session, ws, item_id, lock=True)
    repo.ensure_editable(item)
    v = await _variant(uow, item, variant_id)
    await uow.session.delete(v)
    await uow.session.flush()
    await repo.save_version(uow.session, item, principal.sub, uow.now(), emitter(uow, ws))
    return Response(status_code=204)
