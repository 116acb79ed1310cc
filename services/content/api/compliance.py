"""Compliance on demand and the workspace's sensitive-word lists (the built-in Advertising
Law list always applies; brand terms and allow phrases live in /v1/settings)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from services.content import repository as repo
from services.content import tables as t
from services.content.api.common import WRITE_RESPONSES, Cursor, Limit, Manager, tagged, utc
from services.content.api.reviews import finding_json
from services.content.api.schemas import ComplianceCheckIn, ListIn, ListPatch
from services.content.domain.compliance import Severity, count_by_severity
from shared.errors import Conflict, NotFound, Unprocessable
from shared.http import CurrentPrincipal, Uow, check_if_match, idempotent_create
from shared.platforms import RULES, validate_variant

router = APIRouter(prefix="/v1", tags=["compliance"])


@router.post(
    "/compliance/check",
    summary="Scan a text: Advertising Law terms, the workspace's lists and brand terms "
    "(normalised against evasion); with `channel`, also that platform's rules",
)
async def check(body: ComplianceCheckIn, uow: Uow, principal: CurrentPrincipal) -> Any:
    if body.channel is not None and body.channel not in RULES:
        raise Unprocessable(
            f"unknown channel {body.channel!r}; known: {', '.join(sorted(RULES))}",
            field="channel",
        )
    matcher = await repo.matcher_for(uow.ctx, uow.session, principal.workspace_id)
    findings = matcher.scan(body.text)
    counts = count_by_severity(findings)
    out: dict[str, Any] = {
        "findings": [{k: v for k, v in finding_json(f).items() if k != "field"} for f in findings],
        "blocking": counts[Severity.BLOCK],
        "warnings": counts[Severity.WARN],
    }
    if body.channel is not None:
        out["problems"] = [
            p.as_dict() for p in validate_variant(body.channel, body=body.text) if p.field == "body"
        ]
    return out


def list_json(lst: t.SensitiveList) -> dict[str, Any]:
    return {
        "id": str(lst.id),
        "name": lst.name,
        "enabled": lst.enabled,
        "terms": lst.terms,
        "term_count": len(lst.terms),
        "version": lst.version,
        "created_at": utc(lst.created_at),
        "updated_at": utc(lst.updated_at),
    }


def _terms(terms: list[Any]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for term in terms:
        seen[term.term] = term.model_dump(exclude_none=True)
    return list(seen.values())


async def _list(uow: Any, ws: str, list_id: str, lock: bool = False) -> t.SensitiveList:
    lid = repo.parse_uuid(list_id, "list")
    stmt = select(t.SensitiveList).where(
        t.SensitiveList.id == lid, t.SensitiveList.workspace_id == ws
    )
    if lock:
        stmt = stmt.with_for_update()
    lst = await uow.session.scalar(stmt)
    if lst is None:
        raise NotFound("no such list", field="list_id")
    return lst


async def _name_free(uow: Any, ws: str, name: str, except_id: Any = None) -> None:
    found = await uow.session.scalar(
        select(t.SensitiveList.id).where(
            t.SensitiveList.workspace_id == ws, t.SensitiveList.name == name
        )
    )
    if found is not None and found != except_id:
        raise Conflict(f"a list named {name!r} exists", field="name")


@router.post(
    "/compliance/lists",
    status_code=201,
    summary="Add a sensitive-word list (terms with category and severity)",
    responses=WRITE_RESPONSES,
)
async def post_list(body: ListIn, uow: Uow, principal: Manager, request: Request) -> Any:
    ws = principal.workspace_id

    async def create() -> tuple[int, Any, dict[str, str]]:
        await _name_free(uow, ws, body.name)
        now = uow.now()
        lst = t.SensitiveList(
            workspace_id=ws,
            name=body.name,
            terms=_terms(body.terms),
            enabled=body.enabled,
            version=1,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(lst)
        await uow.session.flush()
        await repo.bump_lists_version(uow.session, ws)
        return 201, list_json(lst), {"ETag": f'"{lst.version}"'}

    return await idempotent_create(request, uow, ws, body, create)


@router.get("/compliance/lists", summary="The workspace's sensitive-word lists")
async def list_lists(
    uow: Uow, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> Any:
    stmt = select(t.SensitiveList).where(t.SensitiveList.workspace_id == principal.workspace_id)
    rows, nxt = await repo.page(uow.session, stmt, t.SensitiveList, limit, cursor)
    return {"items": [list_json(x) for x in rows], "next_cursor": nxt}


@router.get("/compliance/lists/{list_id}", summary="One list")
async def get_list(list_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    lst = await _list(uow, principal.workspace_id, list_id)
    return tagged(list_json(lst), lst.version)


@router.patch(
    "/compliance/lists/{list_id}",
    summary="Rename, replace the terms or switch a list off (If-Match)",
    responses=WRITE_RESPONSES,
)
async def patch_list(
    list_id: str, body: ListPatch, uow: Uow, principal: Manager, request: Request
) -> Any:
    ws = principal.workspace_id
    lst = await _list(uow, ws, list_id, lock=True)
    check_if_match(request, lst.version, required=True)
    given = body.model_dump(exclude_unset=True)
    if given.get("name") is not None:
        await _name_free(uow, ws, given["name"], lst.id)
        lst.name = given["name"]
    if body.terms is not None:
        lst.terms = _terms(body.terms)
    if body.enabled is not None:
        lst.enabled = body.enabled
    lst.version += 1
    lst.updated_at = uow.now()
    await repo.bump_lists_version(uow.session, ws)
    return tagged(list_json(lst), lst.version)


@router.delete("/compliance/lists/{list_id}", status_code=204, summary="Remove a list")
async def delete_list(list_id: str, uow: Uow, principal: Manager) -> Response:
    ws = principal.workspace_id
    lst = await _list(uow, ws, list_id, lock=True)
    await uow.session.delete(lst)
    await repo.bump_lists_version(uow.session, ws)
    return Response(status_code=204)
