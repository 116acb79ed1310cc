"""The review workflow over HTTP: submit (with compliance and platform checks), decisions,
the compliance override, the audit trail and overdue reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from services.content import repository as repo
from services.content import tables as t
from services.content.api.common import WRITE_RESPONSES, Limit, Maker, Manager, item_json, utc
from services.content.api.items import emitter
from services.content.api.schemas import OverrideIn, ReviewIn
from services.content.domain import review as rv
from services.content.domain.compliance import Severity, check_item, count_by_severity
from services.content.domain.items import compliance_fields, open_required
from shared.errors import Conflict, Forbidden, Unprocessable
from shared.http import CurrentPrincipal, Uow
from shared.platforms import validate_variant

router = APIRouter(prefix="/v1", tags=["review"])


def finding_json(f: Any) -> dict[str, Any]:
    return {
        "field": f.field,
        "term": f.term,
        "matched_text": f.matched_text,
        "category": f.category,
        "severity": f.severity.value,
        "source": f.source.value,
        "start": f.start,
        "end": f.end,
        "suggestion": f.suggestion,
    }


def _record(item: t.Item, kind: str, actor: Any, now: datetime, **kw: Any) -> t.ReviewRecord:
    return t.ReviewRecord(
        workspace_id=item.workspace_id,
        item_id=item.id,
        round=item.review_round,
        kind=kind,
        actor=actor.sub if hasattr(actor, "sub") else str(actor),
        actor_roles=sorted(actor.roles) if hasattr(actor, "roles") else [],
        version=item.version,
        content_hash=item.content_hash,
        at=now,
        **kw,
    )


async def _submit_problems(uow: Any, item: t.Item, variants: list[t.Variant]) -> list[dict]:
    problems: list[dict[str, Any]] = []
    for v in variants:
        for p in validate_variant(
            v.channel,
            title=v.title,
            body=v.body,
            hashtags=v.hashtags,
            media=v.media,
            link=v.link,
        ):
            problems.append(
                {
                    "source": "variant",
                    "field": f"variants.{v.channel}.{p.field}",
                    "channel": v.channel,
                    "variant_id": str(v.id),
                    **{k: val for k, val in p.as_dict().items() if k != "field"},
                }
            )
    settings = await repo.settings_of(uow.session, item.workspace_id)
    if settings.require_tasks_done_before_submit:
        tasks = await uow.session.scalars(
            select(t.Task)
            .where(t.Task.item_id == item.id)
            .order_by(t.Task.position, t.Task.created_at)
        )
        for task in open_required(list(tasks)):
            problems.append(
                {
                    "source": "task",
                    "field": f"tasks.{task.id}",
                    "code": "task_open",
                    "task_id": str(task.id),
                    "role": task.role,
                    "status": task.status,
                    "assignee": task.assignee,
                    "message": f"required {task.role} task '{task.title}' is {task.status}",
                }
            )
    return problems


@router.post(
    "/items/{item_id}/submit",
    summary="Send the item to review: platform rules and required tasks are checked (422 "
    "listing every problem), then compliance runs and the first stage starts",
    responses=WRITE_RESPONSES,
)
async def submit(item_id: str, uow: Uow, principal: Maker) -> Any:
    ws = principal.workspace_id
    item = await repo.get_item(uow.session, ws, item_id, lock=True)
    status = rv.ItemStatus(item.status)
    if status is rv.ItemStatus.CHANGES_REQUESTED:
        status = rv.ItemStatus.DRAFT  # resubmitting as is starts a new round
    if status is not rv.ItemStatus.DRAFT:
        raise Conflict(f"only a draft can be submitted (the item is {item.status})", field="status")
    variants = await repo.variants_of(uow.session, item.id)
    problems = await _submit_problems(uow, item, variants)
    if problems:
        raise Unprocessable(
            f"{len(problems)} problem(s) stop the submit", field="item", errors=problems
        )
    settings = await repo.settings_of(uow.session, ws)
    workflow = repo.workflow_of(settings)
    matcher = await repo.matcher_for(uow.ctx, uow.session, ws)
    fields = compliance_fields(repo.item_content(item), [repo.variant_content(v) for v in variants])
    findings = check_item(matcher, fields)
    counts = count_by_severity(findings)
    now = uow.now()
    item.review_round += 1
    uow.session.add(_record(item, "submitted", principal, now))
    uow.session.add(
        _record(
            item,
            "compliance_check",
            "system:compliance",
            now,
            stage="compliance",
            details={
                "blocking": counts[Severity.BLOCK],
                "warnings": counts[Severity.WARN],
                "findings": [finding_json(f) for f in findings],
            },
        )
    )
    history = rv.ReviewHistory(
        submitted_at=now,
        checks=(
            rv.ComplianceCheck(
                item.content_hash, counts[Severity.BLOCK], counts[Severity.WARN], now
            ),
        ),
    )
    outcome = rv.on_submit(workflow, repo.review_item(item, rv.ItemStatus.DRAFT), history)
    repo.apply_state(item, outcome.state)
    await repo.emit_outcome(uow.session, item, outcome, emitter(uow, ws))
    return {
        "item": item_json(item),
        "review": repo.state_json(outcome.state),
        "findings": [finding_json(f) for f in findings],
    }


def _authors(item: t.Item, current_version: t.ItemVersion | None) -> set[str]:
    """The owner and whoever wrote the version under review: neither decides on it."""
    names = {item.owner}
    if current_version is not None:
        names.add(current_version.created_by)
    return names


def _check_anchor(item: t.Item, variants: list[t.Variant], anchor: Any) -> None:
    fields = compliance_fields(repo.item_content(item), [repo.variant_content(v) for v in variants])
    text = fields.get(anchor.field)
    if text is None:
        raise Unprocessable(
            f"anchor.field {anchor.field!r} is not a text field of this item; "
            f"known: {', '.join(fields)}",
            field="anchor.field",
        )
    if not anchor.start <= anchor.end <= len(text):
        raise Unprocessable(
            f"anchor must satisfy 0 <= start <= end <= {len(text)}", field="anchor.end"
        )


@router.post(
    "/items/{item_id}/reviews",
    summary="Decide on the current stage: approve, request_changes or reject (comment, "
    "optionally anchored to a text range); answers the item's new status",
    responses={**WRITE_RESPONSES},
)
async def decide(item_id: str, body: ReviewIn, uow: Uow, principal: CurrentPrincipal) -> Any:
    ws = principal.workspace_id
    item = await repo.get_item(uow.session, ws, item_id, lock=True)
    if item.status != rv.ItemStatus.IN_REVIEW:
        raise Conflict(f"the item is not in review (it is {item.status})", field="status")
    if body.content_hash is not None and body.content_hash != item.content_hash:
        raise Conflict(
            "the item changed since you read it: review the current version",
            field="content_hash",
            current_hash=item.content_hash,
            current_version=item.version,
        )
    version_row = await uow.session.get(t.ItemVersion, (item.id, item.version))
    if principal.sub in _authors(item, version_row):
        raise Forbidden("authors cannot review their own content", field="decision")
    settings = await repo.settings_of(uow.session, ws)
    workflow = repo.workflow_of(settings)
    records = await repo.round_records(uow.session, item)
    history = repo.history_from(records)
    ritem = repo.review_item(item)
    state = rv.evaluate(workflow, ritem, history)
    stage_key = body.stage or state.current
    if stage_key is None or stage_key != state.current:
        raise Conflict(
            f"stage {stage_key!r} is not the current stage ({state.current!r})", field="stage"
        )
    stage = workflow.stage(stage_key)
    if stage.kind is rv.StageKind.COMPLIANCE:
        raise Conflict(
            "the compliance stage is decided by the check or a manager's override "
            "(POST .../compliance/override)",
            field="stage",
            findings=_latest_findings(records),
        )
    if not stage.is_eligible(principal.sub, principal.roles):
        raise Forbidden(
            f"stage {stage.key!r} needs one of the roles {sorted(stage.required_roles)}"
            + (f" or a named reviewer {sorted(stage.reviewers)}" if stage.reviewers else ""),
            field="decision",
        )
    if body.anchor is not None:
        _check_anchor(item, await repo.variants_of(uow.session, item.id), body.anchor)
    now = uow.now()
    decision = rv.Decision(
        stage.key,
        principal.sub,
        frozenset(principal.roles),
        rv.Verdict(body.decision),
        item.content_hash,
        now,
        body.comment or "",
    )
    try:
        outcome = rv.apply_decision(workflow, ritem, history, decision)
    except rv.StaleVersion as exc:  # pragma: no cover - the hash is checked above
        raise Conflict(str(exc), field="content_hash") from exc
    except rv.NotAllowed as exc:
        raise Forbidden(str(exc), field="decision") from exc
    anchor = body.anchor.model_dump() if body.anchor else None
    uow.session.add(
        _record(
            item,
            "decision",
            principal,
            now,
            stage=stage.key,
            decision=body.decision,
            comment=body.comment,
            anchor=anchor,
            status_after=outcome.status.value,
        )
    )
    repo.apply_state(item, outcome.state)
    decided = {
        "stage": stage.key,
        "decision": body.decision,
        "reviewer": principal.sub,
        "comment": body.comment,
        "anchor": anchor,
    }
    await repo.emit_outcome(uow.session, item, outcome, emitter(uow, ws), decided)
    return {
        "status": item.status,
        "item": item_json(item),
        "review": repo.state_json(outcome.state),
    }


def _latest_findings(records: list[t.ReviewRecord]) -> list[dict[str, Any]]:
    checks = [r for r in records if r.kind == "compliance_check"]
    return checks[-1].details.get("findings", []) if checks else []


@router.post(
    "/items/{item_id}/compliance/override",
    summary="A manager (not the author) lets blocking compliance findings pass, with a "
    "reason; audited",
    responses=WRITE_RESPONSES,
)
async def override(item_id: str, body: OverrideIn, uow: Uow, principal: Manager) -> Any:
    ws = principal.workspace_id
    item = await repo.get_item(uow.session, ws, item_id, lock=True)
    if item.status != rv.ItemStatus.IN_REVIEW:
        raise Conflict(f"the item is not in review (it is {item.status})", field="status")
    if body.content_hash is not None and body.content_hash != item.content_hash:
        raise Conflict("the item changed since you read it", field="content_hash")
    version_row = await uow.session.get(t.ItemVersion, (item.id, item.version))
    if principal.sub in _authors(item, version_row):
        raise Forbidden("authors cannot override the check of their own content", field="reason")
    settings = await repo.settings_of(uow.session, ws)
    workflow = repo.workflow_of(settings)
    records = await repo.round_records(uow.session, item)
    history = repo.history_from(records)
    now = uow.now()
    ov = rv.ComplianceOverride(
        principal.sub, frozenset(principal.roles), body.reason, now, item.content_hash
    )
    try:
        outcome = rv.apply_override(workflow, repo.review_item(item), history, ov)
    except rv.NotAllowed as exc:
        raise Conflict(str(exc), field="status") from exc
    findings = _latest_findings(records)
    terms = sorted({f["term"] for f in findings if f["severity"] == "block"})
    uow.session.add(
        _record(
            item,
            "override",
            principal,
            now,
            stage="compliance",
            comment=body.reason,
            details={"terms": terms},
            status_after=outcome.status.value,
        )
    )
    repo.apply_state(item, outcome.state)
    await repo.emit_outcome(uow.session, item, outcome, emitter(uow, ws), {"terms": terms})
    return {
        "status": item.status,
        "item": item_json(item),
        "review": repo.state_json(outcome.state),
    }


def record_json(r: t.ReviewRecord) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "kind": r.kind,
        "round": r.round,
        "actor": r.actor,
        "actor_roles": r.actor_roles,
        "stage": r.stage,
        "decision": r.decision,
        "comment": r.comment,
        "anchor": r.anchor,
        "version": r.version,
        "content_hash": r.content_hash,
        "details": r.details,
        "status_after": r.status_after,
        "at": utc(r.at),
    }


@router.get(
    "/items/{item_id}/reviews",
    summary="The audit trail (every submit, check, decision, override and edit, with actor, "
    "time, version and hash) and the current review state",
)
async def trail(item_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    item = await repo.get_item(uow.session, principal.workspace_id, item_id)
    rows = list(
        await uow.session.scalars(
            select(t.ReviewRecord)
            .where(t.ReviewRecord.item_id == item.id)
            .order_by(t.ReviewRecord.seq)
        )
    )
    state = None
    if item.review_round:
        settings = await repo.settings_of(uow.session, item.workspace_id)
        history = repo.history_from([r for r in rows if r.round == item.review_round])
        state = repo.state_json(
            rv.evaluate(repo.workflow_of(settings), repo.review_item(item), history)
        )
    return {
        "item_id": str(item.id),
        "status": item.status,
        "version": item.version,
        "content_hash": item.content_hash,
        "review": state if item.status == rv.ItemStatus.IN_REVIEW else None,
        "items": [record_json(r) for r in rows],
    }


@router.get("/reviews/overdue", summary="Items whose current review stage is past its SLA")
async def overdue(uow: Uow, principal: CurrentPrincipal, limit: Limit = 100) -> Any:
    now = uow.now()
    rows = await uow.session.scalars(
        select(t.Item)
        .where(
            t.Item.workspace_id == principal.workspace_id,
            t.Item.status == rv.ItemStatus.IN_REVIEW.value,
            t.Item.stage_due_at < now,
        )
        .order_by(t.Item.stage_due_at, t.Item.id)
        .limit(limit)
    )
    return {
        "items": [
            {
                "item_id": str(i.id),
                "title": i.title,
                "owner": i.owner,
                "version": i.version,
                "stage": i.review_stage,
                "entered_at": utc(i.stage_entered_at),
                "due_at": utc(i.stage_due_at),
                "overdue_by_s": round((now - i.stage_due_at).total_seconds(), 3),
            }
            for i in rows
        ],
        "next_cursor": None,
    }
