"""A workspace's review workflow as stored JSON, to and from `review.Workflow`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.content.domain.review import (
    AppliesTo,
    ApprovalMode,
    Stage,
    StageKind,
    Workflow,
    default_workflow,
)

ROLES = frozenset(
    {"manager", "planner", "editor", "designer", "video", "reviewer", "analyst", "community"}
)


class WorkflowInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def stage_to_json(stage: Stage) -> dict[str, Any]:
    return {
        "key": stage.key,
        "name": stage.name,
        "kind": stage.kind.value,
        "required_roles": sorted(stage.required_roles),
        "mode": stage.mode.value,
        "n": stage.n,
        "sla_hours": stage.sla_hours,
        "applies_to": stage.applies_to.value,
        "reviewers": sorted(stage.reviewers),
    }


def workflow_to_json(workflow: Workflow) -> dict[str, Any]:
    return {"stages": [stage_to_json(s) for s in workflow.stages]}


def workflow_from_json(data: Mapping[str, Any] | None) -> Workflow:
    """Parse and validate; raises WorkflowInvalid naming the offending field."""
    if not data:
        return default_workflow()
    stages_in = data.get("stages")
    if not isinstance(stages_in, list) or not stages_in:
        raise WorkflowInvalid("stages", "a workflow needs at least one stage")
    stages: list[Stage] = []
    for i, raw in enumerate(stages_in):
        where = f"stages[{i}]"
        roles = frozenset(raw.get("required_roles") or ())
        unknown = roles - ROLES
        if unknown:
            raise WorkflowInvalid(
                f"{where}.required_roles",
                f"unknown roles {sorted(unknown)}; known: {sorted(ROLES)}",
            )
        try:
            kind = StageKind(raw.get("kind", "human"))
            mode = ApprovalMode(raw.get("mode", "any"))
            applies = AppliesTo(raw.get("applies_to", "always"))
        except ValueError as exc:
            raise WorkflowInvalid(where, str(exc)) from None
        if kind is StageKind.COMPLIANCE and (roles or raw.get("reviewers")):
            raise WorkflowInvalid(
                where, "the compliance stage is automatic: it takes no roles or reviewers"
            )
        n = raw.get("n", 1)
        if mode is ApprovalMode.N and (not isinstance(n, int) or n < 1):
            raise WorkflowInvalid(f"{where}.n", "mode 'n' needs n >= 1")
        try:
            stages.append(
                Stage(
                    key=str(raw.get("key") or "").strip(),
                    name=str(raw.get("name") or raw.get("key") or "").strip(),
                    kind=kind,
                    required_roles=roles,
                    mode=mode,
                    n=n if mode is ApprovalMode.N else 1,
                    sla_hours=float(raw.get("sla_hours", 24)),
                    applies_to=applies,
                    reviewers=frozenset(raw.get("reviewers") or ()),
                )
            )
        except (ValueError, TypeError) as exc:
            raise WorkflowInvalid(where, str(exc)) from None
    if not any(s.kind is StageKind.HUMAN for s in stages):
        raise WorkflowInvalid("stages", "a workflow needs at least one human review stage")
    try:
        return Workflow(tuple(stages))
    except ValueError as exc:
        raise WorkflowInvalid("stages", str(exc)) from None
