"""The content calendar (排期): range views in the workspace zone, conflicts, entries CRUD
and the RFC 5545 feed (authenticated, and a subscribable secret link)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import and_, func, or_, select

from services.planning import repository as repo
from services.planning import tables as t
from services.planning.api.common import WRITE_RESPONSES, Approver, Cursor, Limit, tagged, utc
from services.planning.api.schemas import DateOrInstant, EntryIn, EntryPatch
from services.planning.domain import calendar as cal
from services.planning.domain.errors import DomainError
from services.planning.domain.timezones import local_date, local_day_start, require_aware
from shared.errors import NotFound, Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match, idempotent_create

router = APIRouter(prefix="/v1", tags=["calendar"])

ENTRY_SCHEDULED = "mediaops.planning.calendar.entry_scheduled"
ALL_DAY_KINDS = ("key_date", "blackout")
FEED_PAST = timedelta(days=180)
FEED_LIMIT = 5000


def entry_json(e: t.CalendarEntry, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "kind": e.kind,
        "title": e.title,
        "starts_at": e.starts_at.astimezone(tz) if e.starts_at else None,
        "ends_at": e.ends_at.astimezone(tz) if e.ends_at else None,
        "day": e.day,
        "last_day": e.last_day,
        "all_day": e.day is not None,
        "channels": e.channels,
        "account_ids": e.account_ids,
        "assignee_ids": e.assignee_ids,
        "effort": e.effort,
        "topic_id": str(e.topic_id) if e.topic_id else None,
        "campaign_id": str(e.campaign_id) if e.campaign_id else None,
        "category": e.category,
        "description": e.description,
        "status": e.status,
        "published_at": e.published_at,
        "version": e.version,
        "created_at": e.created_at,
    }


def to_domain(e: t.CalendarEntry) -> cal.CalendarEntry:
    return cal.CalendarEntry(
        id=str(e.id),
        kind=cal.EntryKind(e.kind),
        title=e.title,
        starts_at=e.starts_at,
        ends_at=e.ends_at,
        day=e.day,
        last_day=e.last_day,
        channels=tuple(e.channels),
        account_ids=tuple(e.account_ids),
        assignee_ids=tuple(e.assignee_ids),
        effort=e.effort,
        topic_id=str(e.topic_id) if e.topic_id else None,
        campaign_id=str(e.campaign_id) if e.campaign_id else None,
        category=e.category,
        description=e.description,
        sequence=e.version - 1,
    )


def milestone_entries(campaigns: list[t.Campaign]) -> list[tuple[cal.CalendarEntry, dict]]:
    """Campaign milestones shown on the calendar (they live on the campaign)."""
    out = []
    for c in campaigns:
        for m in c.milestones:
            due = datetime.fromisoformat(m["due_at"])
            entry = cal.CalendarEntry(
                id=f"{c.id}.{m['id']}",
                kind=cal.EntryKind.MILESTONE,
                title=f"{c.name}: {m['title']}",
                starts_at=due,
                campaign_id=str(c.id),
                category="milestone",
            )
            out.append((entry, {"done": bool(m.get("done")), "campaign_name": c.name}))
    return out


def ws_blackouts(ws: t.Workspace) -> list[cal.Blackout]:
    return [
        cal.Blackout(
            id=f"ws-{i}",
            first_day=date.fromisoformat(b["first_day"]),
            last_day=date.fromisoformat(b.get("last_day") or b["first_day"]),
            reason=b.get("reason", ""),
            account_ids=tuple(b.get("account_ids", [])),
        )
        for i, b in enumerate(ws.blackout_dates)
    ]


def blackout_of(e: t.CalendarEntry) -> cal.Blackout:
    assert e.day is not None
    return cal.Blackout(
        id=str(e.id),
        first_day=e.day,
        last_day=e.last_day or e.day,
        reason=e.title,
        account_ids=tuple(e.account_ids),
    )


async def entries_between(
    uow: Uow, workspace_id: str, start: datetime, end: datetime, tz: ZoneInfo
) -> list[t.CalendarEntry]:
    first_day, last_day = local_date(start, tz), local_date(end - timedelta(microseconds=1), tz)
    rows = await uow.session.scalars(
        select(t.CalendarEntry).where(
            t.CalendarEntry.workspace_id == workspace_id,
            t.CalendarEntry.status != "cancelled",
            or_(
                and_(
                    t.CalendarEntry.starts_at < end,
                    func.coalesce(t.CalendarEntry.ends_at, t.CalendarEntry.starts_at) >= start,
                ),
                and_(
                    t.CalendarEntry.day <= last_day,
                    func.coalesce(t.CalendarEntry.last_day, t.CalendarEntry.day) >= first_day,
                ),
            ),
        )
    )
    return list(rows)


async def open_campaigns(uow: Uow, workspace_id: str) -> list[t.Campaign]:
    rows = await uow.session.scalars(
        select(t.Campaign).where(
            t.Campaign.workspace_id == workspace_id, t.Campaign.status != "cancelled"
        )
    )
    return list(rows)


def _range(
    start: date | datetime, end: date | datetime | None, view: str | None, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    if isinstance(start, datetime):
        require_aware(start, "start")
    if view is not None:
        day = local_date(start, tz) if isinstance(start, datetime) else start
        if view == "week":
            first = day - timedelta(days=day.weekday())
            after = first + timedelta(days=7)
        else:
            first = day.replace(day=1)
            after = (first + timedelta(days=32)).replace(day=1)
        return local_day_start(first, tz), local_day_start(after, tz)
    if end is None:
        raise DomainError("end", "required unless view is week or month")
    if isinstance(start, date) and not isinstance(start, datetime):
        start = local_day_start(start, tz)
    if isinstance(end, date) and not isinstance(end, datetime):
        end = local_day_start(end, tz)
    cal.validate_range(start, end)
    return start, end


@router.get(
    "/calendar",
    summary="Calendar view: entries, days and conflicts in the workspace time zone",
    description="`start` and `end` are local dates (end exclusive) or instants with offset; "
    "`view=week|month` takes the week (Monday first) or month containing `start`. A range "
    "over 366 days is a 422. Conflicts: same account booked under 30 min apart, members "
    "past their weekly capacity, entries on blackout dates.",
)
async def calendar_view(
    uow: Uow,
    principal: CurrentPrincipal,
    start: DateOrInstant,
    end: DateOrInstant | None = None,
    view: str | None = Query(None, pattern="^(week|month)$"),
) -> Any:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    tz = repo.zone(ws)
    begin, finish = _range(start, end, view, tz)
    rows = await entries_between(uow, principal.workspace_id, begin, finish, tz)
    milestones = [
        (e, extra)
        for e, extra in milestone_entries(await open_campaigns(uow, principal.workspace_id))
        if e.starts_at is not None and begin <= e.starts_at < finish
    ]
    domain_entries = [to_domain(r) for r in rows] + [e for e, _ in milestones]
    blackouts = ws_blackouts(ws) + [blackout_of(r) for r in rows if r.kind == "blackout"]
    members = await uow.session.scalars(
        select(t.Member).where(t.Member.workspace_id == principal.workspace_id)
    )
    capacities = [
        cal.MemberCapacity(m.user_id, m.display_name, m.capacity_per_week) for m in members
    ]
    conflicts = cal.detect_conflicts(domain_entries, capacities, blackouts, tz)
    first_day = local_date(begin, tz)
    last_day = local_date(finish - timedelta(microseconds=1), tz)
    days = cal.range_view(domain_entries, tz, first_day, last_day)
    rows.sort(key=lambda r: to_domain(r).sort_key())
    entries = [entry_json(r, tz) for r in rows] + [
        {
            "id": e.id,
            "kind": e.kind.value,
            "title": e.title,
            "starts_at": e.starts_at.astimezone(tz) if e.starts_at else None,
            "all_day": False,
            "campaign_id": e.campaign_id,
            "category": e.category,
            "status": "done" if extra["done"] else "scheduled",
        }
        for e, extra in milestones
    ]
    return {
        "timezone": tz.key,
        "start": begin.astimezone(tz),
        "end": finish.astimezone(tz),
        "view": view,
        "entries": entries,
        "days": [{"date": d.day, "entry_ids": [e.id for e in d.entries]} for d in days.days],
        "blackouts": [
            {"first_day": b.first_day, "last_day": b.last_day, "reason": b.reason}
            for b in blackouts
        ],
        "conflicts": [
            {"kind": c.kind.value, "entry_ids": c.entry_ids, "message": c.message}
            for c in conflicts
        ],
    }


# --- the iCalendar feed ------------------------------------------------------------------------


async def feed_body(uow: Uow, ws: t.Workspace) -> bytes:
    tz = repo.zone(ws)
    now = uow.now()
    since = now - FEED_PAST
    rows = await uow.session.scalars(
        select(t.CalendarEntry)
        .where(
            t.CalendarEntry.workspace_id == ws.id,
            t.CalendarEntry.status != "cancelled",
            or_(
                func.coalesce(t.CalendarEntry.ends_at, t.CalendarEntry.starts_at) >= since,
                func.coalesce(t.CalendarEntry.last_day, t.CalendarEntry.day)
                >= local_date(since, tz),
            ),
        )
        .order_by(t.CalendarEntry.created_at)
        .limit(FEED_LIMIT)
    )
    entries = [to_domain(r) for r in rows]
    entries += [
        e
        for e, _ in milestone_entries(await open_campaigns(uow, ws.id))
        if e.starts_at is not None and e.starts_at >= since
    ]
    entries += [
        cal.CalendarEntry(
            id=f"{ws.id}-blackout-{b.first_day.isoformat()}",
            kind=cal.EntryKind.BLACKOUT,
            title=f"Blackout: {b.reason}" if b.reason else "Blackout",
            day=b.first_day,
            last_day=b.last_day,
            category="blackout",
            account_ids=b.account_ids,
        )
        for b in ws_blackouts(ws)
    ]
    return cal.build_ics(ws.name, tz, entries, now, uid_domain=f"{ws.id}.mediaops")


ICS_RESPONSE = {200: {"content": {"text/calendar": {}}, "description": "RFC 5545 calendar"}}


def ics(body: bytes) -> Response:
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'inline; filename="calendar.ics"',
            "Cache-Control": "private, max-age=300",
        },
    )


@router.get(
    "/calendar.ics",
    summary="The caller's workspace calendar as RFC 5545 (bearer token)",
    response_class=Response,
    responses=ICS_RESPONSE,
)
async def calendar_ics(uow: Uow, principal: CurrentPrincipal) -> Response:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    return ics(await feed_body(uow, ws))


@router.get(
    "/calendar/feeds/{secret}.ics",
    summary="Subscribable calendar link: the secret names the workspace (no token)",
    description="Get the link from `GET /v1/workspace` (`calendar_feed_path`). Rotating the "
    "secret (`PUT /v1/workspace` with `rotate_feed_secret`) kills the old link.",
    response_class=Response,
    responses={**ICS_RESPONSE, 404: {"description": "unknown or rotated secret"}},
)
async def calendar_feed(secret: str, uow: Uow) -> Response:
    ws = None
    if 20 <= len(secret) <= 100:
        ws = await uow.session.scalar(select(t.Workspace).where(t.Workspace.feed_secret == secret))
    if ws is None:
        raise NotFound("no calendar behind this link (it may have been rotated)")
    return ics(await feed_body(uow, ws))


# --- entries CRUD ------------------------------------------------------------------------------


def _validated(row: t.CalendarEntry) -> None:
    """Run the domain's rules over the row as it would be saved."""
    if row.kind in ALL_DAY_KINDS and row.day is None:
        raise Unprocessable(f"a {row.kind} is a local day: send day (and last_day)", field="day")
    if row.kind == "publication" and row.starts_at is None:
        raise Unprocessable("a publication slot needs starts_at", field="starts_at")
    try:
        to_domain(row)
    except DomainError as exc:
        raise Unprocessable(str(exc), field=exc.field) from None


async def _emit_scheduled(uow: Uow, e: t.CalendarEntry) -> None:
    if e.kind != "publication" or e.starts_at is None:
        return
    await uow.emit(
        ENTRY_SCHEDULED,
        {
            "entry_id": str(e.id),
            "topic_id": str(e.topic_id) if e.topic_id else None,
            "starts_at": utc(e.starts_at),
            "ends_at": utc(e.ends_at),
            "channels": e.channels,
            "account_ids": e.account_ids,
            "kind": e.kind,
            "title": e.title,
            "campaign_id": str(e.campaign_id) if e.campaign_id else None,
            "assignee_ids": e.assignee_ids,
        },
        workspace_id=e.workspace_id,
        subject=str(e.id),
    )


@router.post(
    "/calendar/entries",
    status_code=201,
    summary="Add an entry: publication slot, milestone, key date (holiday, trend) or blackout",
    responses=WRITE_RESPONSES,
)
async def create_entry(body: EntryIn, uow: Uow, principal: Approver, request: Request) -> Any:
    async def create() -> tuple[int, Any, dict[str, str]]:
        ws = await repo.workspace(uow.session, principal.workspace_id)
        topic_id = repo.parse_uuid(body.topic_id, "topic_id")
        campaign_id = repo.parse_uuid(body.campaign_id, "campaign_id")
        if not await repo.exists_in_workspace(uow.session, t.Topic, topic_id, ws.id):
            raise Unprocessable("no such topic in this workspace", field="topic_id")
        if not await repo.exists_in_workspace(uow.session, t.Campaign, campaign_id, ws.id):
            raise Unprocessable("no such campaign in this workspace", field="campaign_id")
        e = t.CalendarEntry(
            id=uuid.uuid4(),
            workspace_id=ws.id,
            version=1,
            status="scheduled",
            **body.model_dump(exclude={"topic_id", "campaign_id"}),
            topic_id=topic_id,
            campaign_id=campaign_id,
        )
        _validated(e)
        uow.session.add(e)
        await uow.session.flush()
        await _emit_scheduled(uow, e)
        return 201, entry_json(e, repo.zone(ws)), {"ETag": '"1"'}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


@router.get("/calendar/entries", summary="Calendar entries in creation order")
async def list_entries(
    uow: Uow,
    principal: CurrentPrincipal,
    kind: str | None = Query(None, pattern="^(publication|milestone|key_date|blackout)$"),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    stmt = select(t.CalendarEntry).where(t.CalendarEntry.workspace_id == ws.id)
    if kind is not None:
        stmt = stmt.where(t.CalendarEntry.kind == kind)
    rows, nxt = await repo.page(uow.session, stmt, t.CalendarEntry, limit, cursor)
    tz = repo.zone(ws)
    return {"items": [entry_json(r, tz) for r in rows], "next_cursor": nxt}


@router.get("/calendar/entries/{entry_id}", summary="One calendar entry")
async def get_entry(entry_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal) -> Any:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    e = await repo.get_owned(uow.session, t.CalendarEntry, entry_id, ws.id, "entry")
    return tagged(entry_json(e, repo.zone(ws)), e.version)


@router.patch(
    "/calendar/entries/{entry_id}",
    summary="Move or change an entry (If-Match required)",
    responses=WRITE_RESPONSES,
)
async def patch_entry(
    entry_id: uuid.UUID, body: EntryPatch, uow: Uow, principal: Approver, request: Request
) -> Any:
    ws = await repo.workspace(uow.session, principal.workspace_id)
    e = await repo.get_for_update(uow.session, t.CalendarEntry, entry_id, ws.id, "entry")
    check_if_match(request, e.version, required=True)
    changes = body.model_dump(exclude_unset=True)
    for key in ("title", "channels", "account_ids", "assignee_ids", "effort", "description"):
        if key in changes and changes[key] is None:
            raise Unprocessable("must not be null", field=key)
    moved = any(k in changes for k in ("starts_at", "ends_at", "account_ids", "channels"))
    for key, value in changes.items():
        setattr(e, key, value)
    _validated(e)
    e.version += 1
    await uow.session.flush()
    if moved:
        await _emit_scheduled(uow, e)
    return tagged(entry_json(e, repo.zone(ws)), e.version)


@router.delete(
    "/calendar/entries/{entry_id}", status_code=204, summary="Remove an entry (managers, planners)"
)
async def delete_entry(entry_id: uuid.UUID, uow: Uow, principal: Approver) -> None:
    e = await repo.get_owned(
        uow.session, t.CalendarEntry, entry_id, principal.workspace_id, "entry"
    )
    await uow.session.delete(e)
