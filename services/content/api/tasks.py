"""Production tasks of an item, per role (brief, copy, design, video script, shoot, edit,
layout), with assignee, due date and status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select

from services.content import repository as repo
from services.content import tables as t
from services.content.api.common import WRITE_RESPONSES, Maker, tagged, utc
from services.content.api.schemas import TaskIn, TaskPatch
from shared.errors import NotFound
from shared.http import CurrentPrincipal, Uow, check_if_match

router = APIRouter(prefix="/v1", tags=["tasks"])


def task_json(task: t.Task) -> dict[str, Any]:
    return {
        "id": str(task.id),
        "item_id": str(task.item_id),
        "role": task.role,
        "title": task.title,
        "assignee": task.assignee,
        "due_at": utc(task.due_at),
        "status": task.status,
        "required": task.required,
        "notes": task.notes,
        "version": task.version,
        "created_at": utc(task.created_at),
        "updated_at": utc(task.updated_at),
    }


async def _task(uow: Any, item: t.Item, task_id: str) -> t.Task:
    tid = repo.parse_uuid(task_id, "task")
    task = await uow.session.scalar(
        select(t.Task).where(t.Task.id == tid, t.Task.item_id == item.id).with_for_update()
    )
    if task is None:
        raise NotFound("no such task", field="task_id")
    return task


@router.get("/items/{item_id}/tasks", summary="The item's production tasks")
async def list_tasks(item_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    rows = await uow.session.scalars(
        select(t.Task)
        .where(t.Task.item_id == item.id)
        .order_by(t.Task.position, t.Task.created_at, t.Task.id)
    )
    return {"items": [task_json(x) for x in rows], "next_cursor": None}


@router.post(
    "/items/{item_id}/tasks",
    status_code=201,
    summary="Add a production task",
    responses=WRITE_RESPONSES,
)
async def post_task(item_id: str, body: TaskIn, uow: Uow, principal: Maker) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    now = uow.now()
    last = await uow.session.scalar(
        select(func.max(t.Task.position)).where(t.Task.item_id == item.id)
    )
    task = t.Task(
        position=(last or 0) + 1,
        workspace_id=item.workspace_id,
        item_id=item.id,
        role=body.role,
        title=body.title or body.role.replace("_", " ").capitalize(),
        assignee=body.assignee,
        due_at=body.due_at,
        status=body.status,
        required=body.required,
        notes=body.notes,
        version=1,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(task)
    await uow.session.flush()
    return tagged(task_json(task), task.version, 201)


@router.patch(
    "/items/{item_id}/tasks/{task_id}",
    summary="Update a task (status todo/doing/done, assignee, due date) with If-Match",
    responses=WRITE_RESPONSES,
)
async def patch_task(
    item_id: str, task_id: str, body: TaskPatch, uow: Uow, principal: Maker, request: Request
) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    task = await _task(uow, item, task_id)
    check_if_match(request, task.version, required=True)
    for name, value in body.model_dump(exclude_unset=True).items():
        if name in ("title", "status", "required") and value is None:
            continue
        setattr(task, name, value)
    task.version += 1
    task.updated_at = uow.now()
    return tagged(task_json(task), task.version)


@router.delete("/items/{item_id}/tasks/{task_id}", status_code=204, summary="Remove a task")
async def delete_task(item_id: str, task_id: str, uow: Uow, principal: Maker) -> Response:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    task = await _task(uow, item, task_id)
    await uow.session.delete(task)
    return Response(status_code=204)
