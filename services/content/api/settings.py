"""Workspace settings of the content service: the submit rule, the review workflow, brand
terms, allow phrases and (in one call) the sensitive-word lists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import delete, select

from services.content import repository as repo
from services.content import tables as t
from services.content.api.common import WRITE_RESPONSES, Manager, tagged
from services.content.api.compliance import _terms
from services.content.api.schemas import SettingsIn, WorkflowIn
from services.content.domain.workflow_config import (
    WorkflowInvalid,
    workflow_from_json,
    workflow_to_json,
)
from shared.errors import Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match

router = APIRouter(prefix="/v1", tags=["settings"])


def settings_json(s: t.WorkspaceSettings, lists: list[t.SensitiveList]) -> dict[str, Any]:
    return {
        "workspace_id": s.workspace_id,
        "require_tasks_done_before_submit": s.require_tasks_done_before_submit,
        "workflow": workflow_to_json(repo.workflow_of(s)),
        "brand_terms": s.brand_terms,
        "allow_phrases": s.allow_phrases,
        "sensitive_lists": [
            {"id": str(x.id), "name": x.name, "enabled": x.enabled, "term_count": len(x.terms)}
            for x in lists
        ],
        "lists_version": s.lists_version,
        "version": s.version,
    }


async def _lists(uow: Any, ws: str) -> list[t.SensitiveList]:
    rows = await uow.session.scalars(
        select(t.SensitiveList)
        .where(t.SensitiveList.workspace_id == ws)
        .order_by(t.SensitiveList.name)
    )
    return list(rows)


def _workflow(body: WorkflowIn, field: str) -> dict[str, Any]:
    data = body.model_dump()
    try:
        return workflow_to_json(workflow_from_json(data))
    except WorkflowInvalid as exc:
        raise Unprocessable(
            exc.message, field=f"{field}.{exc.field}" if field else exc.field
        ) from None


@router.get("/settings", summary="The workspace's content settings (defaults on first use)")
async def get_settings(uow: Uow, principal: CurrentPrincipal) -> Any:
    s = await repo.settings_of(uow.session, principal.workspace_id)
    return tagged(settings_json(s, await _lists(uow, principal.workspace_id)), s.version)


@router.put(
    "/settings",
    summary="Change the content settings (If-Match optional); omitted fields are kept",
    responses=WRITE_RESPONSES,
)
async def put_settings(body: SettingsIn, uow: Uow, principal: Manager, request: Request) -> Any:
    ws = principal.workspace_id
    s = await repo.settings_of(uow.session, ws, lock=True)
    check_if_match(request, s.version)
    lists_changed = False
    if body.require_tasks_done_before_submit is not None:
        s.require_tasks_done_before_submit = body.require_tasks_done_before_submit
    if body.workflow is not None:
        s.workflow = _workflow(body.workflow, "workflow")
    if body.brand_terms is not None:
        s.brand_terms = [b.model_dump() for b in body.brand_terms]
        lists_changed = True
    if body.allow_phrases is not None:
        s.allow_phrases = [p.strip() for p in body.allow_phrases if p.strip()]
        lists_changed = True
    if body.sensitive_lists is not None:
        names = [x.name for x in body.sensitive_lists]
        if len(set(names)) != len(names):
            raise Unprocessable("list names must be unique", field="sensitive_lists")
        existing = {x.name: x for x in await _lists(uow, ws)}
        await uow.session.execute(
            delete(t.SensitiveList).where(
                t.SensitiveList.workspace_id == ws, t.SensitiveList.name.not_in(names)
            )
        )
        now = uow.now()
        for x in body.sensitive_lists:
            row = existing.get(x.name)
            if row is None:
                uow.session.add(
                    t.SensitiveList(
                        workspace_id=ws,
                        name=x.name,
                        terms=_terms(x.terms),
                        enabled=x.enabled,
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                row.terms, row.enabled, row.version = _terms(x.terms), x.enabled, row.version + 1
        lists_changed = True
    s.version += 1
    if lists_changed:
        s.lists_version += 1
    await uow.session.flush()
    return tagged(settings_json(s, await _lists(uow, ws)), s.version)


@router.get("/settings/workflow", summary="The workspace's review workflow")
async def get_workflow(uow: Uow, principal: CurrentPrincipal) -> Any:
    s = await repo.settings_of(uow.session, principal.workspace_id)
    return tagged(workflow_to_json(repo.workflow_of(s)), s.version)


@router.put(
    "/settings/workflow",
    summary="Replace the review workflow: ordered stages with roles, any/all/N and SLA hours",
    responses=WRITE_RESPONSES,
)
async def put_workflow(body: WorkflowIn, uow: Uow, principal: Manager, request: Request) -> Any:
    s = await repo.settings_of(uow.session, principal.workspace_id, lock=True)
    check_if_match(request, s.version)
    s.workflow = _workflow(body, "")
    s.version += 1
    return tagged(workflow_to_json(repo.workflow_of(s)), s.version)
