"""Two tiny test services that exercise the kernel through its real parts: `probe` writes a
note and emits an event in the same request; `probe_sink` consumes it over the bus."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlalchemy import Integer, String, func, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from shared.auth import Principal
from shared.db import IdMixin, TimestampMixin, VersionMixin, WorkspaceMixin, make_base
from shared.errors import NotFound
from shared.events import CloudEvent
from shared.http import CurrentPrincipal, StrictModel, Uow, check_if_match, etag, require_roles
from shared.http.idempotency import idempotent_create
from shared.service import HandlerContext, ServiceSpec

GOAL_CREATED = "mediaops.planning.goal.created"

ProbeBase = make_base("probe")
SinkBase = make_base("probe_sink")


class Note(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, ProbeBase):  # type: ignore[misc, valid-type]
    __tablename__ = "notes"
    title: Mapped[str] = mapped_column(String(200))
    target: Mapped[int] = mapped_column(Integer)


class Seen(SinkBase):  # type: ignore[misc, valid-type]
    __tablename__ = "seen"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    goal_id: Mapped[str] = mapped_column(String(64))


class NoteIn(StrictModel):
    title: str = Field(min_length=1, max_length=200)
    target: int = Field(ge=0)
    fail_after_emit: bool = False


router = APIRouter(prefix="/v1")


def note_json(n: Note) -> dict:
    return {"id": str(n.id), "title": n.title, "target": n.target, "version": n.version}


@router.post("/notes", status_code=201)
async def create_note(
    body: NoteIn,
    uow: Uow,
    principal: Annotated[Principal, Depends(require_roles("manager", "planner"))],
    request: Request,
):
    async def create():
        note = Note(workspace_id=principal.workspace_id, title=body.title, target=body.target)
        uow.session.add(note)
        await uow.session.flush()
        now = datetime.now(UTC)
        await uow.emit(
            GOAL_CREATED,
            {
                "goal_id": str(note.id),
                "name": note.title,
                "metric": "reads",
                "target": note.target,
                "period_start": now,
                "period_end": now,
            },
            workspace_id=principal.workspace_id,
            subject=str(note.id),
        )
        if body.fail_after_emit:
            raise RuntimeError("boom after emit")
        return 201, note_json(note), {"ETag": etag(note.version)}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


@router.get("/notes/{note_id}")
async def get_note(note_id: uuid.UUID, uow: Uow, principal: CurrentPrincipal):
    note = await uow.session.get(Note, note_id)
    if note is None or note.workspace_id != principal.workspace_id:
        raise NotFound("no such note", field="note_id")
    return note_json(note)


class NotePatch(StrictModel):
    title: str | None = None


@router.patch("/notes/{note_id}")
async def patch_note(
    note_id: uuid.UUID,
    body: NotePatch,
    uow: Uow,
    principal: CurrentPrincipal,
    request: Request,
):
    note = await uow.session.get(Note, note_id)
    if note is None or note.workspace_id != principal.workspace_id:
        raise NotFound("no such note", field="note_id")
    check_if_match(request, note.version, required=True)
    if body.title is not None:
        note.title = body.title
    note.version += 1
    return note_json(note)


@router.get("/notes")
async def count_notes(uow: Uow, principal: CurrentPrincipal) -> dict:
    n = await uow.session.scalar(
        select(func.count()).select_from(Note).where(Note.workspace_id == principal.workspace_id)
    )
    return {"count": n}


# -- the sink -------------------------------------------------------------------------------
class SinkBehaviour:
    failures_left = 0
    always_fail = False
    attempts: list[float] = []


async def on_goal_created(ctx: HandlerContext, event: CloudEvent) -> None:
    import time

    SinkBehaviour.attempts.append(time.monotonic())
    if SinkBehaviour.always_fail:
        raise RuntimeError("sink is broken")
    if SinkBehaviour.failures_left > 0:
        SinkBehaviour.failures_left -= 1
        raise RuntimeError("transient failure")
    await ctx.session.execute(insert(Seen).values(event_id=event.id, goal_id=event.data["goal_id"]))


PROBE = ServiceSpec(
    name="probe",
    title="probe",
    description="kernel test producer",
    metadata=ProbeBase.metadata,
    routers=lambda: [router],
    event_handlers={},
)
SINK = ServiceSpec(
    name="probe_sink",
    title="probe sink",
    description="kernel test consumer",
    metadata=SinkBase.metadata,
    routers=lambda: [],
    event_handlers={GOAL_CREATED: [on_goal_created]},
)
