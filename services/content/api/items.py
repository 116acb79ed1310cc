"""Content items of every format: create, list, read, edit (each save is a new immutable
version with its content hash), version history and readable diffs."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from services.content import repository as repo
from services.content import tables as t
from services.content.api.common import (
    WRITE_RESPONSES,
    Cursor,
    Limit,
    Maker,
    item_json,
    resolve_media,
    tagged,
    utc,
)
from services.content.api.schemas import ItemIn, ItemPatch
from services.content.domain.items import flatten_for_diff, tasks_for_format
from services.content.domain.versions import diff_versions, summarise
from shared.errors import NotFound, Unprocessable
from shared.http import (
    CurrentPrincipal,
    Uow,
    check_if_match,
    context_of,
    idempotent_create,
    open_unit_of_work,
)
from shared.http.context import request_id_var, traceparent_var

router = APIRouter(prefix="/v1", tags=["items"])


def emitter(uow: Any, workspace_id: str) -> repo.Emit:
    async def emit(type_: str, data: Any, subject: str | None) -> Any:
        return await uow.emit(type_, data, workspace_id=workspace_id, subject=subject)

    return emit


async def _media(uow: Any, ws: str, cover: uuid.UUID | None, assets: list[uuid.UUID]) -> list:
    if cover is None and not assets:
        return []  # without touching uow.session: no session is opened for nothing
    refs: list[tuple[uuid.UUID, str | None]] = []
    if cover is not None:
        refs.append((cover, "cover"))
    refs += [(a, None) for a in assets if a != cover]
    field = "asset_ids" if assets else "cover_asset_id"
    return await resolve_media(uow.session, ws, refs, field)


async def create_item(
    session: Any,
    workspace_id: str,
    owner: str,
    values: dict[str, Any],
    now: Any,
    emit: repo.Emit,
    *,
    from_topic: bool = False,
) -> t.Item:
    """Insert an item, its production tasks and version 1; emits item.created."""
    item = t.Item(**_new_item_fields(workspace_id, owner, now, from_topic), **values)
    # No flush here: the item, its tasks, version 1 and the outbox row go to the database in
    # one flush (each round trip through the async ORM costs more than the SQL itself).
    # POST /v1/items writes the same rows in one statement instead (`_insert_item`).
    session.add(item)
    for position, (role, title) in enumerate(tasks_for_format(item.format)):
        session.add(
            t.Task(
                position=position,
                workspace_id=workspace_id,
                item_id=item.id,
                role=role,
                title=title,
                status="todo",
                required=True,
                created_at=now,
                updated_at=now,
            )
        )
    await repo.save_version(session, item, owner, now, emit, first=True)
    await emit(repo.CREATED, repo.item_ref(item), str(item.id))
    return item


def _new_item_fields(workspace_id: str, owner: str, now: Any, from_topic: bool) -> dict[str, Any]:
    """What every new item starts with, whichever way it is written."""
    return {
        "id": uuid.uuid4(),
        "workspace_id": workspace_id,
        "owner": owner,
        "status": "draft",
        "version": 1,
        "content_hash": "",
        "from_topic": from_topic,
        "publications": [],
        "created_at": now,
        "updated_at": now,
    }


async def _insert_item(
    uow: Any, workspace_id: str, owner: str, values: dict[str, Any], now: Any, *, alone: bool
) -> Any:
    """`create_item`'s rows and event in one statement; the item is a plain row
    (`repo.new_item_row`), never in the session, so nothing is flushed for it later.
    `alone`: the request writes nothing else (no Idempotency-Key row), so that statement is
    the whole transaction and runs on the asyncpg pool (`repo.insert_new_item_alone`);
    otherwise in the request's transaction."""
    item = repo.new_item_row(**_new_item_fields(workspace_id, owner, now, False), **values)
    if alone:
        insert, target = repo.insert_new_item_alone, await uow.ctx.db.pool()
    else:
        insert, target = repo.insert_new_item, uow.session
    await insert(
        target,
        uow.ctx.outbox,
        item,
        tasks_for_format(item.format),
        request_id=request_id_var.get(),
        traceparent=traceparent_var.get(),
    )
    return item


@router.post(
    "/items",
    status_code=201,
    summary="Create a content item (status draft, version 1) with its production tasks",
    responses=WRITE_RESPONSES,
)
async def post_item(body: ItemIn, principal: Maker, request: Request) -> Any:
    ws = principal.workspace_id
    # Without an Idempotency-Key the create is the request's only write.
    alone = "idempotency-key" not in request.headers
    # The unit of work opened here rather than by `Uow`: the usual create runs on the asyncpg
    # pool and needs no session; the commit still precedes the answer.
    async with open_unit_of_work(context_of(request)) as uow:

        async def create() -> tuple[int, Any, dict[str, str]]:
            media = await _media(uow, ws, body.cover_asset_id, body.asset_ids)
            values = body.model_dump(
                exclude={"cover_asset_id", "asset_ids", "script"}, mode="python"
            )
            values["script"] = body.script.model_dump(mode="json") if body.script else None
            values["cover_asset_id"] = str(body.cover_asset_id) if body.cover_asset_id else None
            values["media"] = media
            item = await _insert_item(uow, ws, principal.sub, values, uow.now(), alone=alone)
            return 201, item_json(item), {"ETag": f'"{item.version}"'}  # type: ignore[arg-type]

        response = await idempotent_create(request, uow, ws, body, create)
    return response


@router.get("/items", summary="Items of the workspace, oldest first, filtered")
async def list_items(
    uow: Uow,
    principal: CurrentPrincipal,
    status: str | None = None,
    format: str | None = None,
    topic_id: str | None = None,
    campaign_id: str | None = None,
    owner: str | None = None,
    important: bool | None = None,
    tag: str | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    stmt = select(t.Item).where(t.Item.workspace_id == principal.workspace_id)
    filters = {
        "status": status,
        "format": format,
        "topic_id": topic_id,
        "campaign_id": campaign_id,
        "owner": owner,
        "important": important,
    }
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(t.Item, name) == value)
    if tag is not None:
        stmt = stmt.where(t.Item.tags.contains([tag]))
    rows, nxt = await repo.page(uow.session, stmt, t.Item, limit, cursor)
    return {"items": [item_json(i) for i in rows], "next_cursor": nxt}


@router.get("/items/{item_id}", summary="One item (ETag = its version)")
async def get_item(item_id: str, principal: CurrentPrincipal, request: Request) -> Any:
    # Served from the asyncpg pool: no session, no transaction.
    item = await repo.read_item(context_of(request), principal.workspace_id, item_id)
    return tagged(item_json(item), item.version)  # type: ignore[arg-type]


@router.patch(
    "/items/{item_id}",
    summary="Edit an item with If-Match: a new immutable version; edited content under "
    "review or approved goes back to draft (item.revised when it was approved)",
    responses=WRITE_RESPONSES,
)
async def patch_item(
    item_id: str, body: ItemPatch, uow: Uow, principal: Maker, request: Request
) -> Any:
    ws = principal.workspace_id
    item = await repo.get_item(uow.session, ws, item_id, lock=True)
    check_if_match(request, item.version, required=True)
    repo.ensure_editable(item)
    given = body.model_dump(exclude_unset=True)
    if "title" in given and given["title"] is None:
        raise Unprocessable("title cannot be removed", field="title")
    if "format" in given and given["format"] is None:
        raise Unprocessable("format cannot be removed", field="format")
    flags_before = (item.important, bool(item.campaign_id))
    if "cover_asset_id" in given or "asset_ids" in given:
        cover = body.cover_asset_id if "cover_asset_id" in given else _cover(item)
        assets = (
            body.asset_ids
            if body.asset_ids is not None
            else [uuid.UUID(m["asset_id"]) for m in item.media if m.get("role") != "cover"]
        )
        item.media = await _media(uow, ws, cover, assets)
        item.cover_asset_id = str(cover) if cover else None
    for name in (
        "title",
        "format",
        "body",
        "summary",
        "topic_id",
        "campaign_id",
        "important",
        "link",
        "planned_for",
        "pillar",
    ):
        if name in given:
            setattr(item, name, given[name] if name != "body" else given[name] or "")
    for name in ("tags", "account_ids", "title_alternatives"):
        if name in given:
            setattr(item, name, list(given[name] or []))
    if "script" in given:
        item.script = body.script.model_dump(mode="json") if body.script else None
    flags_changed = flags_before != (item.important, bool(item.campaign_id))
    await repo.save_version(
        uow.session,
        item,
        principal.sub,
        uow.now(),
        emitter(uow, ws),
        review_flags_changed=flags_changed,
    )
    return tagged(item_json(item), item.version)


def _cover(item: t.Item) -> uuid.UUID | None:
    return uuid.UUID(item.cover_asset_id) if item.cover_asset_id else None


# -- versions --------------------------------------------------------------------------------


def _version_json(v: t.ItemVersion, with_fields: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": v.number,
        "content_hash": v.content_hash,
        "created_by": v.created_by,
        "created_at": utc(v.created_at),
        "change": v.change,
    }
    if with_fields:
        out["fields"] = v.fields
    return out


@router.get("/items/{item_id}/versions", summary="The item's versions, oldest first")
async def list_versions(
    item_id: str,
    uow: Uow,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    after = 0
    if cursor:
        if not cursor.isdigit():
            raise Unprocessable("cursor is not one this API returned", field="cursor")
        after = int(cursor)
    rows = list(
        await uow.session.scalars(
            select(t.ItemVersion)
            .where(t.ItemVersion.item_id == item.id, t.ItemVersion.number > after)
            .order_by(t.ItemVersion.number)
            .limit(limit + 1)
        )
    )
    nxt = str(rows[limit - 1].number) if len(rows) > limit else None
    return {"items": [_version_json(v) for v in rows[:limit]], "next_cursor": nxt}


async def _version(uow: Any, item: t.Item, number: int, field: str) -> t.ItemVersion:
    v = await uow.session.get(t.ItemVersion, (item.id, number))
    if v is None:
        raise NotFound(f"the item has no version {number}", field=field)
    return v


@router.get("/items/{item_id}/versions/{number}", summary="One version with all its fields")
async def get_version(item_id: str, number: int, uow: Uow, principal: CurrentPrincipal) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    return _version_json(await _version(uow, item, number, "number"), with_fields=True)


@router.get(
    "/items/{item_id}/diff",
    summary="A readable per-field diff between two versions (sentence-level, with inline "
    "character changes)",
)
async def diff(
    item_id: str,
    uow: Uow,
    principal: CurrentPrincipal,
    from_: int = Query(..., alias="from", ge=1),
    to: int = Query(..., ge=1),
) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    old = await _version(uow, item, from_, "from")
    new = await _version(uow, item, to, "to")
    diffs = diff_versions(flatten_for_diff(old.fields), flatten_for_diff(new.fields))
    return {
        "from": from_,
        "to": to,
        "from_hash": old.content_hash,
        "to_hash": new.content_hash,
        "summary": summarise(diffs),
        "fields": [
            {
                "field": d.field,
                "change": d.change.value,
                "old": d.old,
                "new": d.new,
                "unified": d.unified,
                "inline": d.inline,
                "chars_added": d.chars_added,
                "chars_removed": d.chars_removed,
                "summary": d.summary,
            }
            for d in diffs
        ],
    }
