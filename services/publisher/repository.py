"""Queries and rules shared by the routes, the handlers and the workers (always by workspace)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.connectors.base import Account as ConnectorAccount
from services.publisher.connectors.base import Post
from services.publisher.domain.errors import DomainError
from services.publisher.domain.publications import (
    PublicationState,
    PublicationStatus,
    idempotency_key,
)
from services.publisher.domain.scheduling import (
    QuotaPolicy,
    check_quota,
    local_day_bounds,
    resolve_schedule,
)
from services.publisher.tables import Account, ApprovedSnapshot, BestHours, Publication
from shared.errors import Conflict, NotFound, Unprocessable

SCHEDULED = "mediaops.publisher.publication.scheduled"
PUBLISHED = "mediaops.publisher.publication.published"
FAILED = "mediaops.publisher.publication.failed"
UNKNOWN = "mediaops.publisher.publication.unknown"
CANCELLED = "mediaops.publisher.publication.cancelled"
OVERDUE = "mediaops.publisher.publication.overdue"
NEEDS_REAUTH = "mediaops.publisher.account.needs_reauth"
STATS_CAPTURED = "mediaops.publisher.publication.stats_captured"
ACCOUNT_STATS = "mediaops.publisher.account.stats_captured"
DISPATCH = "mediaops.publisher.publication.dispatch"

MASTER_CHANNELS = ("master", "default", "all")


def parse_uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"no such {field.removesuffix('_id')}", field=field) from None


async def get_account(
    session: AsyncSession, workspace_id: str, account_id: uuid.UUID | str, *, lock: bool = False
) -> Account:
    aid = account_id if isinstance(account_id, uuid.UUID) else parse_uuid(account_id, "account_id")
    stmt = select(Account).where(Account.id == aid, Account.workspace_id == workspace_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound("no such account", field="account_id")
    return row


async def get_publication(
    session: AsyncSession, workspace_id: str, publication_id: uuid.UUID | str, *, lock: bool = False
) -> Publication:
    pid = (
        publication_id
        if isinstance(publication_id, uuid.UUID)
        else parse_uuid(publication_id, "publication_id")
    )
    stmt = select(Publication).where(
        Publication.id == pid, Publication.workspace_id == workspace_id
    )
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound("no such publication", field="publication_id")
    return row


async def current_snapshot(
    session: AsyncSession, workspace_id: str, item_id: str
) -> ApprovedSnapshot | None:
    """The newest approval of the item (superseded or not: the caller decides)."""
    return await session.scalar(
        select(ApprovedSnapshot)
        .where(ApprovedSnapshot.workspace_id == workspace_id, ApprovedSnapshot.item_id == item_id)
        .order_by(ApprovedSnapshot.version.desc(), ApprovedSnapshot.approved_at.desc())
        .limit(1)
    )


# -- state machine glue -------------------------------------------------------------------
def to_state(row: Publication) -> PublicationState:
    return PublicationState(
        id=row.id,
        status=PublicationStatus(row.status),
        scheduled_at=row.scheduled_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        cancel_requested=row.cancel_requested,
        waiting_reauth=row.waiting_reauth,
        external_id=row.external_id,
        url=row.url,
        published_at=row.published_at,
        last_error=row.last_error,
    )


def apply_state(row: Publication, state: PublicationState) -> None:
    row.status = state.status.value
    row.scheduled_at = state.scheduled_at
    row.attempts = state.attempts
    row.next_attempt_at = state.next_attempt_at
    row.due_at = state.due_at
    row.cancel_requested = state.cancel_requested
    row.waiting_reauth = state.waiting_reauth
    row.external_id = state.external_id
    row.url = state.url
    row.published_at = state.published_at
    row.last_error = state.last_error
    if state.status is not PublicationStatus.DISPATCHING:
        row.claimed_at = None


# -- JSON ---------------------------------------------------------------------------------
def account_json(row: Account) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "channel": row.channel,
        "name": row.name,
        "settings": row.settings or {},
        "credentials_set": sorted(row.credential_keys or []),
        "token_expires_at": row.token_expires_at,
        "status": row.status,
        "status_reason": row.status_reason,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def publication_json(row: Publication) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "item_id": row.item_id,
        "variant_id": row.variant_id,
        "account_id": str(row.account_id),
        "channel": row.channel,
        "content_hash": row.content_hash,
        "status": row.status,
        "mode": row.mode,
        "scheduled_at": row.scheduled_at,
        "timezone": row.timezone,
        "next_attempt_at": row.next_attempt_at,
        "attempts": row.attempts,
        "cancel_requested": row.cancel_requested,
        "waiting_reauth": row.waiting_reauth,
        "external_id": row.external_id,
        "url": row.url,
        "published_at": row.published_at,
        "last_error": row.last_error,
        "warning": row.quota_warning,
        "series_id": str(row.series_id) if row.series_id else None,
        "occurrence": row.occurrence,
        "idempotency_key": idempotency_key(row.id),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def ref_payload(row: Publication, reason: str | None = None) -> dict[str, Any]:
    return {
        "publication_id": str(row.id),
        "item_id": row.item_id,
        "account_id": str(row.account_id),
        "channel": row.channel,
        "reason": reason,
    }


def published_payload(row: Publication, snap: ApprovedSnapshot) -> dict[str, Any]:
    return {
        "publication_id": str(row.id),
        "item_id": row.item_id,
        "variant_id": row.variant_id,
        "topic_id": snap.topic_id,
        "campaign_id": snap.campaign_id,
        "account_id": str(row.account_id),
        "channel": row.channel,
        "external_id": row.external_id,
        "url": row.url,
        "published_at": row.published_at,
        "format": snap.format,
        "pillar": snap.pillar,
        "title": snap.title,
    }


# -- the post to make ---------------------------------------------------------------------
def choose_variant(
    snap: ApprovedSnapshot, channel: str, variant_id: str | None
) -> dict[str, Any] | None:
    """The variant asked for; else the account channel's; else the master text (if any)."""
    variants = snap.variants or []
    if variant_id is not None:
        return next((v for v in variants if v.get("variant_id") == variant_id), None)
    for v in variants:
        if v.get("channel") == channel:
            return v
    for v in variants:
        if v.get("channel") in MASTER_CHANNELS:
            return v
    return None


def build_post(row: Publication, snap: ApprovedSnapshot) -> Post:
    variant = choose_variant(snap, row.channel, row.variant_id) or {}
    text = str(variant.get("body") or "") or snap.title
    return Post(
        idempotency_key=idempotency_key(row.id),
        title=variant.get("title") or snap.title,
        text=text,
        hashtags=list(variant.get("hashtags") or []),
        media=list(variant.get("media") or []),
        link=variant.get("link"),
    )


def connector_account(row: Account, credentials: dict[str, Any]) -> ConnectorAccount:
    return ConnectorAccount(
        id=str(row.id),
        channel=row.channel,
        name=row.name,
        settings=dict(row.settings or {}),
        credentials=credentials,
    )


# -- scheduling ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleRequest:
    item_id: str
    account_id: str
    variant_id: str | None = None
    scheduled_at: datetime | None = None
    mode: str | None = None  # asap | at | next_slot (derived from scheduled_at when None)
    occurrences: tuple[datetime, ...] = ()  # a recurrence, already expanded


async def best_hours_for(
    session: AsyncSession, workspace_id: str, account: Account
) -> list[dict[str, Any]]:
    rows = (
        await session.scalars(
            select(BestHours).where(
                BestHours.workspace_id == workspace_id,
                BestHours.scope.in_([f"account:{account.id}", f"channel:{account.channel}"]),
            )
        )
    ).all()
    by_scope = {r.scope: r for r in rows}
    chosen = by_scope.get(f"account:{account.id}") or by_scope.get(f"channel:{account.channel}")
    if chosen is None:
        return []
    slots = []
    for i, s in enumerate(chosen.slots or []):
        if "weekday" in s and "hour" in s:
            score = float(s.get("median") or s.get("score") or len(chosen.slots) - i)
            slots.append(
                {"weekday": int(s["weekday"]), "hour": int(s["hour"]), "score": score or 1.0}
            )
    return slots


async def quota_check(
    session: AsyncSession, account: Account, instant: datetime, extra_same_day: int = 0
) -> str | None:
    """Refuse (409) or return a warning when one more post that local day passes the quota."""
    settings = account.settings or {}
    quota = settings.get("daily_quota")
    if quota is None:
        return None
    tz = settings.get("timezone") or "UTC"
    start, end = local_day_bounds(instant, tz)
    count = await session.scalar(
        select(func.count())
        .select_from(Publication)
        .where(
            Publication.account_id == account.id,
            Publication.scheduled_at >= start,
            Publication.scheduled_at < end,
            Publication.status.notin_(["cancelled", "failed"]),
        )
    )
    existing = [instant] * (int(count or 0) + extra_same_day)
    result = check_quota(existing, int(quota), settings.get("quota_policy") or QuotaPolicy.REFUSE)
    if not result.allowed:
        raise Conflict(result.warning or "daily quota reached", field="scheduled_at")
    return result.warning


async def schedule_publications(
    session: AsyncSession,
    workspace_id: str,
    req: ScheduleRequest,
    *,
    now: datetime,
    created_by: str | None,
    emit: Any,
    snapshot: ApprovedSnapshot | None = None,
) -> list[Publication]:
    """Create the publication (or the series) after every rule; emits `scheduled` per row."""
    account = await get_account(session, workspace_id, req.account_id)
    if account.status == "disabled":
        raise Conflict("the account is disabled", field="account_id")
    snap = snapshot or await current_snapshot(session, workspace_id, req.item_id)
    if snap is None:
        raise Conflict("the item has no approved version", field="item_id")
    if snap.superseded_at is not None:
        raise Conflict(
            "the item was edited after its approval; it must be approved again",
            field="item_id",
        )
    if req.variant_id is not None and choose_variant(snap, account.channel, req.variant_id) is None:
        raise Unprocessable("the approved version has no such variant", field="variant_id")
    settings = account.settings or {}
    tz = settings.get("timezone") or "UTC"
    mode = req.mode or ("at" if req.scheduled_at is not None else "asap")
    try:
        if req.occurrences:
            instants = list(req.occurrences)
            if instants[0] < now:
                raise DomainError("scheduled_at is in the past", field="scheduled_at")
        else:
            best = (
                await best_hours_for(session, workspace_id, account) if mode == "next_slot" else []
            )
            instants = [
                resolve_schedule(
                    req.scheduled_at,
                    mode,
                    tz,
                    now=now,
                    slots=settings.get("slots") or [],
                    best_hours=best,
                )
            ]
    except DomainError as exc:
        raise Unprocessable(exc.message, field=exc.field or "scheduled_at") from exc

    variant_key = req.variant_id or ""
    existing = await session.scalar(
        select(Publication.id).where(
            Publication.workspace_id == workspace_id,
            Publication.item_id == req.item_id,
            Publication.variant_key == variant_key,
            Publication.account_id == account.id,
        )
    )
    if existing is not None:
        raise Conflict(
            f"publication {existing} already exists for this item, variant and account",
            field="item_id",
            existing_id=str(existing),
        )
    series_id = uuid.uuid4() if len(instants) > 1 else None
    rows: list[Publication] = []
    per_day: dict[tuple[datetime, datetime], int] = {}
    for i, instant in enumerate(instants):
        day = local_day_bounds(instant, tz)
        warning = await quota_check(session, account, instant, per_day.get(day, 0))
        per_day[day] = per_day.get(day, 0) + 1
        row = Publication(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            item_id=req.item_id,
            variant_id=req.variant_id,
            variant_key=variant_key,
            account_id=account.id,
            channel=account.channel,
            snapshot_id=snap.id,
            content_hash=snap.content_hash,
            occurrence=i,
            series_id=series_id,
            mode=mode if not req.occurrences else "recurring",
            timezone=tz,
            scheduled_at=instant,
            due_at=instant,
            status="scheduled",
            attempts=0,
            cancel_requested=False,
            waiting_reauth=account.status == "needs_reauth",
            quota_warning=warning,
            stats_done=[],
            created_by=created_by,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    for row in rows:
        await emit(
            SCHEDULED,
            {
                "publication_id": str(row.id),
                "item_id": row.item_id,
                "variant_id": row.variant_id,
                "account_id": str(row.account_id),
                "channel": row.channel,
                "scheduled_at": row.scheduled_at,
            },
            subject=str(row.id),
        )
    return rows


def overdue_filter(now: datetime, overdue_after_s: float) -> Any:
    return and_(
        Publication.status == "scheduled",
        Publication.waiting_reauth.is_(False),
        Publication.due_at <= now - timedelta(seconds=overdue_after_s),
    )


__all__ = ["replace"]
