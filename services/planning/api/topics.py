"""Topics (选题): the brainstormed backlog, its review, votes, comments, assignment and score."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from services.planning import repository as repo
from services.planning import tables as t
from services.planning.api.common import (
    WRITE_RESPONSES,
    Approver,
    Cursor,
    Limit,
    Proposer,
    tagged,
    utc,
)
from services.planning.api.schemas import AssignIn, CommentIn, TopicIn, TopicPatch, VoteIn
from services.planning.domain.errors import DomainError, InvalidTransition
from services.planning.domain.insights import performance_from_insights
from services.planning.domain.strategy import pillar_targets
from services.planning.domain.timezones import require_aware
from services.planning.domain.topics import (
    Assignment,
    Score,
    TopicAction,
    TopicForScoring,
    TopicStatus,
    VoteTally,
    check_capacity,
    score_topic,
    transition,
    validate_format,
    validate_hot_topic,
    validate_priority,
    validate_title,
)
from shared.errors import Conflict, Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match, idempotent_create

router = APIRouter(prefix="/v1", tags=["topics"])

TOPIC_APPROVED = "mediaops.planning.topic.approved"
TOPIC_DROPPED = "mediaops.planning.topic.dropped"
TOPIC_ASSIGNED = "mediaops.planning.topic.assigned"
ENTRY_SCHEDULED = "mediaops.planning.calendar.entry_scheduled"

OPEN_STATUSES = ("idea", "approved", "in_production")
FIELD_NAMES = {"hot_deadline": "deadline"}  # domain name -> API name
MAX_SCORED = 2000


def topic_json(tp: t.Topic, tally: VoteTally | None = None) -> dict[str, Any]:
    tally = tally or VoteTally()
    return {
        "id": str(tp.id),
        "title": tp.title,
        "format": tp.format,
        "pillar": tp.pillar,
        "goal_id": str(tp.goal_id) if tp.goal_id else None,
        "campaign_id": str(tp.campaign_id) if tp.campaign_id else None,
        "planned_for": utc(tp.planned_for),
        "channels": tp.channels,
        "account_ids": tp.account_ids,
        "hot": tp.is_hot,
        "deadline": utc(tp.hot_deadline),
        "priority": tp.priority,
        "tags": tp.tags,
        "effort": tp.effort,
        "status": tp.status,
        "proposed_by": tp.proposed_by,
        "assignee": tp.assignee,
        "due_at": utc(tp.due_at),
        "approved_at": utc(tp.approved_at),
        "approved_by": tp.approved_by,
        "content_item_id": tp.content_item_id,
        "published_at": utc(tp.published_at),
        "publication_url": tp.publication_url,
        "votes": {"up": tally.up, "down": tally.down, "net": tally.net},
        "version": tp.version,
        "created_at": tp.created_at,
        "updated_at": tp.updated_at,
    }


def score_json(score: Score) -> dict[str, Any]:
    return {
        "total": score.total,
        "parts": [
            {
                "name": p.name,
                "value": round(p.value, 4),
                "weight": p.weight,
                "points": p.points,
                "reason": p.reason,
            }
            for p in score.parts
        ],
    }


def _domain(exc: DomainError) -> Unprocessable:
    field = FIELD_NAMES.get(exc.field, exc.field)
    return Unprocessable(f"{field}: {exc.message}", field=field)


async def _check_refs(
    uow: Uow,
    workspace_id: str,
    *,
    pillar: str | None,
    goal_id: str | None,
    campaign_id: str | None,
    sent: Iterable[str],
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    sent = set(sent)
    if "pillar" in sent and pillar is not None:
        names = [p.name for p in await repo.pillars(uow.session, workspace_id)]
        if pillar not in names:
            known = ", ".join(names) or "none defined yet (POST /v1/pillars)"
            raise Unprocessable(f"unknown pillar {pillar!r}; pillars: {known}", field="pillar")
    goal = repo.parse_uuid(goal_id, "goal_id")
    if "goal_id" in sent and not await repo.exists_in_workspace(
        uow.session, t.Goal, goal, workspace_id
    ):
        raise Unprocessable("no such goal in this workspace", field="goal_id")
    campaign = repo.parse_uuid(campaign_id, "campaign_id")
    if "campaign_id" in sent and not await repo.exists_in_workspace(
        uow.session, t.Campaign, campaign, workspace_id
    ):
        raise Unprocessable("no such campaign in this workspace", field="campaign_id")
    return goal, campaign


def _validate_fields(
    *,
    title: str,
    format: str,
    priority: int,
    hot: bool,
    deadline: datetime | None,
    planned_for: datetime | None,
    now: datetime,
    check_deadline: bool = True,
) -> tuple[str, str]:
    try:
        clean_title = validate_title(title)
        clean_format = validate_format(format).value
        validate_priority(priority)
        if check_deadline:
            validate_hot_topic(hot, deadline, now)
        if planned_for is not None:
            require_aware(planned_for, "planned_for")
    except DomainError as exc:
        raise _domain(exc) from None
    return clean_title, clean_format


async def tallies(uow: Uow, topic_ids: list[uuid.UUID]) -> dict[uuid.UUID, VoteTally]:
    if not topic_ids:
        return {}
    rows = await uow.session.execute(
        select(
            t.TopicVote.topic_id,
            func.count().filter(t.TopicVote.value > 0),
            func.count().filter(t.TopicVote.value < 0),
        )
        .where(t.TopicVote.topic_id.in_(topic_ids))
        .group_by(t.TopicVote.topic_id)
    )
    return {r[0]: VoteTally(up=r[1], down=r[2]) for r in rows}


class Scorer:
    """What a score needs, loaded once per request."""

    def __init__(
        self, shares: dict[str, float], targets: dict[str, float], perf: Any, now: datetime
    ):
        self.shares, self.targets, self.perf, self.now = shares, targets, perf, now

    @classmethod
    async def load(cls, uow: Uow, workspace_id: str) -> Scorer:
        now = uow.now()
        pillars = await repo.pillars(uow.session, workspace_id)
        shares = await repo.actual_pillar_shares(uow.session, workspace_id, now)
        insights = await repo.insights(uow.session, workspace_id)
        return cls(shares, pillar_targets(pillars), performance_from_insights(insights), now)

    def score(self, tp: t.Topic, tally: VoteTally) -> Score:
        subject = TopicForScoring(
            id=str(tp.id),
            title=tp.title,
            format=tp.format,
            pillar=tp.pillar,
            priority=tp.priority,
            is_hot=tp.is_hot,
            hot_deadline=tp.hot_deadline,
            votes=tally,
            tags=tuple(tp.tags),
        )
        return score_topic(subject, self.shares, self.targets, self.perf, self.now)


async def _topic(uow: Uow, topic_id: uuid.UUID, workspace_id: str, lock: bool = False) -> t.Topic:
    get = repo.get_for_update if lock else repo.get_owned
    return await get(uow.session, t.Topic, topic_id, workspace_id, "topic")


async def _one(uow: Uow, tp: t.Topic) -> Any:
    tally = (await tallies(uow, [tp.id])).get(tp.id)
    return tagged(topic_json(tp, tally), tp.version)


# --- calendar slot of an approved topic ------------------------------------------------------


async def topic_entry(uow: Uow, tp: t.Topic) -> t.CalendarEntry | None:
    return await uow.session.scalar(
        select(t.CalendarEntry).where(
            t.CalendarEntry.workspace_id == tp.workspace_id,
            t.CalendarEntry.topic_id == tp.id,
            t.CalendarEntry.kind == "publication",
        )
    )


async def schedule_topic(uow: Uow, tp: t.Topic) -> t.CalendarEntry | None:
    """Keep the topic's calendar slot in step with `planned_for`; emit entry_scheduled when
    the slot gets (or changes) its time."""
    entry = await topic_entry(uow, tp)
    if tp.planned_for is None:
        if entry is not None and entry.status == "scheduled":
            entry.status, entry.version = "cancelled", entry.version + 1
        return entry
    if entry is None:
        entry = t.CalendarEntry(
            id=uuid.uuid4(),
            workspace_id=tp.workspace_id,
            kind="publication",
            title=tp.title,
            version=1,
            topic_id=tp.id,
            description="",
            status="scheduled",
        )
        uow.session.add(entry)
    elif entry.starts_at == tp.planned_for and entry.status == "scheduled":
        entry.title, entry.channels, entry.account_ids = tp.title, tp.channels, tp.account_ids
        entry.assignee_ids = [tp.assignee] if tp.assignee else []
        return entry
    else:
        entry.version += 1
    entry.title = tp.title
    entry.starts_at = tp.planned_for
    entry.channels, entry.account_ids = list(tp.channels), list(tp.account_ids)
    entry.assignee_ids = [tp.assignee] if tp.assignee else []
    entry.effort = tp.effort
    entry.campaign_id = tp.campaign_id
    if entry.status != "published":
        entry.status = "scheduled"
    await uow.session.flush()
    await uow.emit(
        ENTRY_SCHEDULED,
        {
            "entry_id": str(entry.id),
            "topic_id": str(tp.id),
            "starts_at": utc(entry.starts_at),
            "ends_at": utc(entry.ends_at),
            "channels": entry.channels,
            "account_ids": entry.account_ids,
            "kind": entry.kind,
            "title": entry.title,
            "campaign_id": str(tp.campaign_id) if tp.campaign_id else None,
            "assignee_ids": entry.assignee_ids,
        },
        workspace_id=tp.workspace_id,
        subject=str(entry.id),
    )
    return entry


# --- routes ------------------------------------------------------------------------------------


@router.post(
    "/topics",
    status_code=201,
    summary="Propose a topic (managers, planners, editors): status `idea`",
    responses=WRITE_RESPONSES,
)
async def create_topic(body: TopicIn, uow: Uow, principal: Proposer, request: Request) -> Any:
    now = uow.now()
    title, fmt = _validate_fields(
        title=body.title,
        format=body.format,
        priority=body.priority,
        hot=body.hot,
        deadline=body.deadline,
        planned_for=body.planned_for,
        now=now,
    )

    async def create() -> tuple[int, Any, dict[str, str]]:
        await repo.workspace(uow.session, principal.workspace_id)
        goal_id, campaign_id = await _check_refs(
            uow,
            principal.workspace_id,
            pillar=body.pillar,
            goal_id=body.goal_id,
            campaign_id=body.campaign_id,
            sent=("pillar", "goal_id", "campaign_id"),
        )
        tp = t.Topic(
            id=uuid.uuid4(),
            workspace_id=principal.workspace_id,
            title=title,
            format=fmt,
            pillar=body.pillar,
            goal_id=goal_id,
            campaign_id=campaign_id,
            planned_for=body.planned_for,
            channels=body.channels,
            account_ids=body.account_ids,
            is_hot=body.hot,
            hot_deadline=body.deadline,
            priority=body.priority,
            tags=body.tags,
            effort=body.effort,
            status=TopicStatus.IDEA.value,
            proposed_by=principal.sub,
            version=1,
        )
        uow.session.add(tp)
        await uow.session.flush()
        return 201, topic_json(tp), {"ETag": '"1"'}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


def _offset_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("o:") and int(raw[2:]) >= 0:
            return int(raw[2:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise Unprocessable("cursor is not one this API returned", field="cursor")


@router.get(
    "/topics",
    summary="The topic backlog: filter by status and pillar; `sort=score` ranks best first",
)
async def list_topics(
    uow: Uow,
    principal: CurrentPrincipal,
    status: TopicStatus | None = None,
    pillar: str | None = None,
    assignee: str | None = None,
    sort: str = Query("created", pattern="^(created|score)$"),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    stmt = select(t.Topic).where(t.Topic.workspace_id == principal.workspace_id)
    if status is not None:
        stmt = stmt.where(t.Topic.status == status.value)
    if pillar is not None:
        stmt = stmt.where(t.Topic.pillar == pillar)
    if assignee is not None:
        stmt = stmt.where(t.Topic.assignee == assignee)
    if sort == "created":
        rows, nxt = await repo.page(uow.session, stmt, t.Topic, limit, cursor)
        votes = await tallies(uow, [r.id for r in rows])
        return {"items": [topic_json(r, votes.get(r.id)) for r in rows], "next_cursor": nxt}
    offset = _offset(cursor)
    rows = list(
        (await uow.session.scalars(stmt.order_by(t.Topic.created_at).limit(MAX_SCORED))).all()
    )
    votes = await tallies(uow, [r.id for r in rows])
    scorer = await Scorer.load(uow, principal.workspace_id)
    scored = [(r, scorer.score(r, votes.get(r.id, VoteTally()))) for r in rows]
    scored.sort(key=lambda pair: (-pair[1].total, str(pair[0].id)))
    window = scored[offset : offset + limit]
    nxt = _offset_cursor(offset + limit) if offset + limit < len(scored) else None
    return {
        "items": [{**topic_json(r, votes.get(r.id)), "score": score_json(s)} for r, s in window],
        "next_cursor": nxt,
    }


@router.get("/topics/{topic_id}", summary="One topic")
async def get_topic(topic_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal) -> Any:
    return await _one(uow, await _topic(uow, topic_id, principal.workspace_id))


@router.patch(
    "/topics/{topic_id}",
    summary="Change a topic (If-Match required); a new planned_for moves its calendar slot",
    responses=WRITE_RESPONSES,
)
async def patch_topic(
    topic_id: uuid.UUID, body: TopicPatch, uow: Uow, principal: Proposer, request: Request
) -> Any:
    tp = await _topic(uow, topic_id, principal.workspace_id, lock=True)
    check_if_match(request, tp.version, required=True)
    if tp.status not in OPEN_STATUSES:
        raise InvalidTransition("topic", tp.status, "change")
    sent = body.model_fields_set
    for name in ("title", "format", "channels", "account_ids", "hot", "priority", "tags", "effort"):
        if name in sent and getattr(body, name) is None:
            raise Unprocessable("must not be null", field=name)
    hot = body.hot if body.hot is not None else tp.is_hot
    deadline = body.deadline if "deadline" in sent else tp.hot_deadline
    if not hot:
        deadline = None if "deadline" not in sent else deadline
    title, fmt = _validate_fields(
        title=body.title if body.title is not None else tp.title,
        format=body.format if body.format is not None else tp.format,
        priority=body.priority if body.priority is not None else tp.priority,
        hot=hot,
        deadline=deadline,
        planned_for=body.planned_for,
        now=uow.now(),
        check_deadline="deadline" in sent or "hot" in sent,
    )
    goal_id, campaign_id = await _check_refs(
        uow,
        principal.workspace_id,
        pillar=body.pillar,
        goal_id=body.goal_id,
        campaign_id=body.campaign_id,
        sent=sent,
    )
    tp.title, tp.format, tp.is_hot, tp.hot_deadline = title, fmt, hot, deadline
    if body.priority is not None:
        tp.priority = body.priority
    for name in ("channels", "account_ids", "tags", "effort"):
        if name in sent:
            setattr(tp, name, getattr(body, name))
    if "pillar" in sent:
        tp.pillar = body.pillar
    if "goal_id" in sent:
        tp.goal_id = goal_id
    if "campaign_id" in sent:
        tp.campaign_id = campaign_id
    if "planned_for" in sent:
        tp.planned_for = body.planned_for
    tp.version += 1
    await uow.session.flush()
    if tp.status != TopicStatus.IDEA.value:
        await schedule_topic(uow, tp)
    return await _one(uow, tp)


@router.post(
    "/topics/{topic_id}/approve",
    summary="Approve a topic (managers, planners): emits topic.approved, books its slot",
    description="With `planned_for` set, a calendar entry is created and "
    "`mediaops.planning.calendar.entry_scheduled` emitted. A dropped topic is a 409.",
    responses=WRITE_RESPONSES,
)
async def approve(topic_id: uuid.UUID, uow: Uow, principal: Approver, request: Request) -> Any:
    tp = await _topic(uow, topic_id, principal.workspace_id, lock=True)
    check_if_match(request, tp.version)
    tp.status = transition(tp.status, TopicAction.APPROVE).value
    tp.approved_at, tp.approved_by = uow.now(), principal.sub
    tp.version += 1
    await uow.session.flush()
    await uow.emit(
        TOPIC_APPROVED,
        {
            "topic_id": str(tp.id),
            "title": tp.title,
            "format": tp.format,
            "pillar": tp.pillar,
            "planned_for": utc(tp.planned_for),
            "channels": tp.channels,
            "goal_id": str(tp.goal_id) if tp.goal_id else None,
            "campaign_id": str(tp.campaign_id) if tp.campaign_id else None,
            "assignee": tp.assignee,
        },
        workspace_id=principal.workspace_id,
        subject=str(tp.id),
    )
    await schedule_topic(uow, tp)
    return await _one(uow, tp)


@router.post(
    "/topics/{topic_id}/drop",
    summary="Drop a topic (managers, planners); its calendar slot is cancelled",
    responses=WRITE_RESPONSES,
)
async def drop(topic_id: uuid.UUID, uow: Uow, principal: Approver, request: Request) -> Any:
    tp = await _topic(uow, topic_id, principal.workspace_id, lock=True)
    check_if_match(request, tp.version)
    previous = tp.status
    tp.status = transition(tp.status, TopicAction.DROP).value
    tp.version += 1
    entry = await topic_entry(uow, tp)
    if entry is not None and entry.status == "scheduled":
        entry.status, entry.version = "cancelled", entry.version + 1
    await uow.session.flush()
    await uow.emit(
        TOPIC_DROPPED,
        {
            "topic_id": str(tp.id),
            "title": tp.title,
            "previous_status": previous,
            "calendar_entry_id": str(entry.id) if entry is not None else None,
        },
        workspace_id=principal.workspace_id,
        subject=str(tp.id),
    )
    return await _one(uow, tp)


@router.post(
    "/topics/{topic_id}/votes",
    summary="Vote +1 or -1 (anyone in the workspace; a later vote replaces yours)",
    responses=WRITE_RESPONSES,
)
async def vote(topic_id: uuid.UUID, body: VoteIn, uow: Uow, principal: CurrentPrincipal) -> Any:
    tp = await _topic(uow, topic_id, principal.workspace_id)
    if tp.status == TopicStatus.DROPPED.value:
        raise InvalidTransition("topic", tp.status, "vote on")
    stmt = insert(t.TopicVote).values(topic_id=tp.id, member_id=principal.sub, value=body.value)
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["topic_id", "member_id"],
            set_={"value": body.value, "voted_at": func.now()},
        )
    )
    tally = (await tallies(uow, [tp.id])).get(tp.id, VoteTally())
    return {
        "topic_id": str(tp.id),
        "up": tally.up,
        "down": tally.down,
        "net": tally.net,
        "mine": body.value,
    }


def comment_json(c: t.TopicComment) -> dict[str, Any]:
    return {"id": str(c.id), "author": c.author, "body": c.body, "created_at": c.created_at}


@router.post("/topics/{topic_id}/comments", status_code=201, summary="Comment on a topic")
async def add_comment(
    topic_id: uuid.UUID, body: CommentIn, uow: Uow, principal: CurrentPrincipal
) -> Any:
    tp = await _topic(uow, topic_id, principal.workspace_id)
    c = t.TopicComment(
        id=uuid.uuid4(),
        workspace_id=principal.workspace_id,
        topic_id=tp.id,
        author=principal.sub,
        body=body.body,
    )
    uow.session.add(c)
    await uow.session.flush()
    return comment_json(c)


@router.get("/topics/{topic_id}/comments", summary="A topic's comments, oldest first")
async def list_comments(
    topic_id: uuid.UUID,
    uow: Uow,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    tp = await _topic(uow, topic_id, principal.workspace_id)
    stmt = select(t.TopicComment).where(
        t.TopicComment.workspace_id == principal.workspace_id, t.TopicComment.topic_id == tp.id
    )
    rows, nxt = await repo.page(uow.session, stmt, t.TopicComment, limit, cursor)
    return {"items": [comment_json(c) for c in rows], "next_cursor": nxt}


@router.post(
    "/topics/{topic_id}/assign",
    summary="Assign to a member with a due date (managers, planners); capacity is checked",
    description="Past the member's weekly capacity (local ISO week of `due_at`) the answer "
    "is 409, unless `force: true`, which assigns and returns the `warning`.",
    responses=WRITE_RESPONSES,
)
async def assign(
    topic_id: uuid.UUID, body: AssignIn, uow: Uow, principal: Approver, request: Request
) -> Any:
    tp = await _topic(uow, topic_id, principal.workspace_id, lock=True)
    check_if_match(request, tp.version)
    if tp.status not in OPEN_STATUSES:
        raise InvalidTransition("topic", tp.status, "assign")
    try:
        require_aware(body.due_at, "due_at")
    except DomainError as exc:
        raise _domain(exc) from None
    member = await repo.member(uow.session, principal.workspace_id, body.member_id)
    if member is None:
        raise Unprocessable(
            f"{body.member_id} is not a member of this workspace (POST /v1/members)",
            field="member_id",
        )
    ws = await repo.workspace(uow.session, principal.workspace_id)
    effort = body.effort if body.effort is not None else tp.effort
    # Lock the member's open assignments so two concurrent assignments see each other.
    others = await uow.session.execute(
        select(t.Topic.id, t.Topic.due_at, t.Topic.effort)
        .where(
            t.Topic.workspace_id == principal.workspace_id,
            t.Topic.assignee == member.user_id,
            t.Topic.due_at.is_not(None),
            t.Topic.status.in_(OPEN_STATUSES),
        )
        .with_for_update()
    )
    existing = [Assignment(str(r.id), member.user_id, r.due_at, r.effort) for r in others]
    result = check_capacity(
        member.capacity_per_week,
        existing,
        Assignment(str(tp.id), member.user_id, body.due_at, effort),
        repo.zone(ws),
    )
    capacity = {
        "ok": result.ok,
        "load": result.load,
        "capacity": result.capacity,
        "week_start": result.week_start.isoformat(),
        "warning": result.warning,
    }
    if not result.ok and not body.force:
        raise Conflict(
            f"{result.warning}; send force: true to assign anyway",
            field="member_id",
            capacity=capacity,
        )
    tp.assignee, tp.due_at, tp.effort = member.user_id, body.due_at, effort
    tp.version += 1
    await uow.session.flush()
    await uow.emit(
        TOPIC_ASSIGNED,
        {
            "topic_id": str(tp.id),
            "assignee": member.user_id,
            "due_at": utc(body.due_at),
            "title": tp.title,
            "format": tp.format,
            "effort": effort,
            "over_capacity": not result.ok,
        },
        workspace_id=principal.workspace_id,
        subject=str(tp.id),
    )
    entry = await topic_entry(uow, tp)
    if entry is not None:
        entry.assignee_ids, entry.effort = [member.user_id], effort
    tally = (await tallies(uow, [tp.id])).get(tp.id)
    return tagged(
        {**topic_json(tp, tally), "capacity": capacity, "warning": result.warning}, tp.version
    )


@router.get(
    "/topics/{topic_id}/score",
    summary="The topic's 0-100 score and the parts behind it, each with its reason",
)
async def topic_score(topic_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal) -> Any:
    tp = await _topic(uow, topic_id, principal.workspace_id)
    tally = (await tallies(uow, [tp.id])).get(tp.id, VoteTally())
    scorer = await Scorer.load(uow, principal.workspace_id)
    return {"topic_id": str(tp.id), **score_json(scorer.score(tp, tally))}
