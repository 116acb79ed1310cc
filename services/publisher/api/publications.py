"""`/v1/publications`: schedule approved content, read it, cancel it, see every attempt."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import and_, or_, select

from services.publisher.api.schemas import PublicationIn
from services.publisher.domain.errors import DomainError, InvalidTransition
from services.publisher.domain.publications import PublicationStatus, cancel
from services.publisher.domain.scheduling import Frequency, Recurrence, expand_recurrence
from services.publisher.repository import (
    CANCELLED,
    ScheduleRequest,
    apply_state,
    get_account,
    get_publication,
    publication_json,
    ref_payload,
    schedule_publications,
    to_state,
)
from services.publisher.tables import Attempt, Publication
from shared.auth import Principal
from shared.errors import Conflict, Unprocessable
from shared.http import CurrentPrincipal, Uow, decode_cursor, encode_cursor, require_roles
from shared.http.app import PROBLEM_SCHEMA
from shared.http.idempotency import idempotent_create

router = APIRouter(prefix="/v1/publications", tags=["publications"])
Scheduler = Annotated[
    Principal, Depends(require_roles("manager", "planner", "community", "editor"))
]


@router.post(
    "",
    status_code=201,
    summary="Schedule an approved item on an account (no scheduled_at = as soon as possible)",
    responses={
        201: {"description": "The publication, or `{items: [...]}` for a recurrence"},
        404: PROBLEM_SCHEMA,
        409: PROBLEM_SCHEMA,
        422: PROBLEM_SCHEMA,
    },
)
async def create_publication(
    body: PublicationIn, uow: Uow, principal: Scheduler, request: Request
) -> Any:
    now = uow.now()
    occurrences: tuple[Any, ...] = ()
    if body.recurrence is not None:
        if body.scheduled_at is None:
            raise Unprocessable("a recurrence needs scheduled_at", field="scheduled_at")
        account = await get_account(uow.session, principal.workspace_id, body.account_id)
        tz = (account.settings or {}).get("timezone") or "UTC"
        try:
            occurrences = tuple(
                expand_recurrence(
                    body.scheduled_at,
                    tz,
                    Recurrence(
                        Frequency(body.recurrence.frequency),
                        body.recurrence.interval,
                        body.recurrence.count,
                        body.recurrence.until,
                    ),
                )
            )
        except DomainError as exc:
            raise Unprocessable(exc.message, field=exc.field or "recurrence") from exc

    async def emit(type_: str, data: Any, subject: str | None = None) -> Any:
        return await uow.emit(type_, data, workspace_id=principal.workspace_id, subject=subject)

    async def create() -> tuple[int, Any, dict[str, str]]:
        rows = await schedule_publications(
            uow.session,
            principal.workspace_id,
            ScheduleRequest(
                item_id=body.item_id,
                account_id=body.account_id,
                variant_id=body.variant_id,
                scheduled_at=body.scheduled_at,
                mode=body.mode,
                occurrences=occurrences,
            ),
            now=now,
            created_by=principal.sub,
            emit=emit,
        )
        for r in rows:
            await uow.session.refresh(r)
        if body.recurrence is not None:
            return (
                201,
                {
                    "series_id": str(rows[0].series_id or rows[0].id),
                    "items": [publication_json(r) for r in rows],
                },
                {},
            )
        return 201, publication_json(rows[0]), {"Location": f"/v1/publications/{rows[0].id}"}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


@router.get("", summary="List publications (filter by status, item or account)")
async def list_publications(
    uow: Uow,
    principal: CurrentPrincipal,
    status: PublicationStatus | None = None,
    item_id: str | None = None,
    account_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    stmt = select(Publication).where(Publication.workspace_id == principal.workspace_id)
    if status is not None:
        stmt = stmt.where(Publication.status == status.value)
    if item_id is not None:
        stmt = stmt.where(Publication.item_id == item_id)
    if account_id is not None:
        account = await get_account(uow.session, principal.workspace_id, account_id)
        stmt = stmt.where(Publication.account_id == account.id)
    after = decode_cursor(cursor)
    if after is not None:
        ts, id_ = after
        stmt = stmt.where(
            or_(
                Publication.created_at > ts,
                and_(Publication.created_at == ts, Publication.id > id_),
            )
        )
    rows = (
        await uow.session.scalars(
            stmt.order_by(Publication.created_at, Publication.id).limit(limit + 1)
        )
    ).all()
    nxt = (
        encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return {"items": [publication_json(r) for r in rows[:limit]], "next_cursor": nxt}


@router.get("/{publication_id}", summary="One publication", responses={404: PROBLEM_SCHEMA})
async def read_publication(publication_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    return publication_json(
        await get_publication(uow.session, principal.workspace_id, publication_id)
    )


@router.post(
    "/{publication_id}/cancel",
    summary="Cancel; while dispatching it ends cancelled or published, never both",
    responses={404: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA},
)
async def cancel_publication(publication_id: str, uow: Uow, principal: Scheduler) -> Any:
    row = await get_publication(uow.session, principal.workspace_id, publication_id, lock=True)
    before = row.status
    try:
        state = cancel(to_state(row))
    except InvalidTransition as exc:
        raise Conflict(exc.message, field="status") from exc
    apply_state(row, state)
    if state.status is PublicationStatus.CANCELLED and before != "cancelled":
        await uow.emit(
            CANCELLED,
            ref_payload(row, "cancelled by " + principal.sub),
            workspace_id=principal.workspace_id,
            subject=str(row.id),
        )
    await uow.session.flush()
    await uow.session.refresh(row)
    return publication_json(row)


@router.get(
    "/{publication_id}/attempts",
    summary="Every attempt: time, worker, request id, status, latency, error",
    responses={404: PROBLEM_SCHEMA},
)
async def list_attempts(publication_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    row = await get_publication(uow.session, principal.workspace_id, publication_id)
    attempts = (
        await uow.session.scalars(
            select(Attempt).where(Attempt.publication_id == row.id).order_by(Attempt.started_at)
        )
    ).all()
    return {
        "items": [
            {
                "id": str(a.id),
                "number": a.number,
                "kind": a.kind,
                "started_at": a.started_at,
                "finished_at": a.finished_at,
                "worker_id": a.worker_id,
                "request_id": a.request_id,
                "status": a.status,
                "latency_ms": a.latency_ms,
                "error": a.error,
            }
            for a in attempts
        ],
        "next_cursor": None,
    }
