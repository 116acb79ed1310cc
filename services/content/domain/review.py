"""Review workflow: stages configured per workspace and a pure state machine over them.

The review state is never stored as such: it is recomputed from the workflow, the item's
facts and the recorded decisions, checks and overrides, so a replay gives the same answer.

Rules
- Stages run in order; a stage applies `always`, or only to `important` and/or `campaign`
  items. The current stage is the first applicable one that has not passed.
- Every decision and approval is bound to the content hash of the version it was made on.
  After an edit the hash changes and earlier approvals no longer count.
- The author never decides on their own item (separation of duties). A reviewer must hold
  at least one of the stage's `required_roles` (any-of; an empty set means any member).
- Per stage, each reviewer's latest decision counts. Any `reject` rejects the item, any
  `request_changes` sends it back; otherwise the stage passes on enough approvals:
    `any`: one approval; `n`: `n` distinct reviewers;
    `all`: every reviewer named in `reviewers` (minus the author). `all` requires the names:
    "everyone eligible" depends on workspace membership, which a pure rule cannot see, and
    guessing a number would silently weaken the rule; use `n` for "any N people". If the
    author was the only name, one approval by any eligible non-author is needed instead.
- The compliance stage passes when the check of the current version has no blocking
  finding, or when a manager who is not the author records an override with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

MANAGER_ROLE = "manager"


# -- item status ---------------------------------------------------------------------------


class ItemStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"


_TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.DRAFT: frozenset({ItemStatus.IN_REVIEW}),
    # back to draft when the author edits or withdraws during review
    ItemStatus.IN_REVIEW: frozenset(
        {ItemStatus.CHANGES_REQUESTED, ItemStatus.APPROVED, ItemStatus.REJECTED, ItemStatus.DRAFT}
    ),
    ItemStatus.CHANGES_REQUESTED: frozenset({ItemStatus.DRAFT}),
    ItemStatus.APPROVED: frozenset({ItemStatus.DRAFT, ItemStatus.PUBLISHED}),
    # an edit after publication is a new version that needs a new review
    ItemStatus.PUBLISHED: frozenset({ItemStatus.DRAFT}),
    ItemStatus.REJECTED: frozenset(),  # final: rework is a new item
}


def can_transition(current: ItemStatus, new: ItemStatus) -> bool:
    return new in _TRANSITIONS[current]


def status_after_edit(current: ItemStatus) -> ItemStatus:
    """An edit always yields a draft that needs (re-)review; a rejected item is final."""
    if current is ItemStatus.DRAFT:
        return ItemStatus.DRAFT
    if not can_transition(current, ItemStatus.DRAFT):
        raise NotAllowed(f"a {current} item cannot be edited")
    return ItemStatus.DRAFT


# -- errors --------------------------------------------------------------------------------


class ReviewError(Exception):
    """Base of review errors."""


class NotAllowed(ReviewError):
    """The actor may not do this now (own item, missing role, stage not current...)."""


class StaleVersion(ReviewError):
    """The decision was made on a version that is no longer the current one."""

    def __init__(self, given: str, current: str) -> None:
        super().__init__(f"decision for version {given[:12]}, current is {current[:12]}")
        self.given = given
        self.current = current


# -- workflow ------------------------------------------------------------------------------


class StageKind(StrEnum):
    COMPLIANCE = "compliance"
    HUMAN = "human"


class ApprovalMode(StrEnum):
    ANY = "any"
    ALL = "all"
    N = "n"


class AppliesTo(StrEnum):
    ALWAYS = "always"
    IMPORTANT = "important"
    CAMPAIGN = "campaign"
    IMPORTANT_OR_CAMPAIGN = "important_or_campaign"


@dataclass(frozen=True, slots=True)
class Stage:
    key: str
    name: str
    kind: StageKind
    required_roles: frozenset[str] = frozenset()
    mode: ApprovalMode = ApprovalMode.ANY
    n: int = 1
    sla_hours: float = 24.0
    applies_to: AppliesTo = AppliesTo.ALWAYS
    reviewers: frozenset[str] = frozenset()  # named reviewers, for mode `all`

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a stage needs a key")
        if self.n < 1:
            raise ValueError(f"stage {self.key}: n must be at least 1")
        if self.sla_hours <= 0:
            raise ValueError(f"stage {self.key}: sla_hours must be positive")
        if self.kind is StageKind.HUMAN and self.mode is ApprovalMode.ALL and not self.reviewers:
            raise ValueError(f"stage {self.key}: mode 'all' needs the named reviewers")

    def applies(self, item: ReviewItem) -> bool:
        match self.applies_to:
            case AppliesTo.ALWAYS:
                return True
            case AppliesTo.IMPORTANT:
                return item.important
            case AppliesTo.CAMPAIGN:
                return item.has_campaign
            case AppliesTo.IMPORTANT_OR_CAMPAIGN:
                return item.important or item.has_campaign

    def is_eligible(self, reviewer: str, roles: Iterable[str]) -> bool:
        if self.reviewers and self.mode is ApprovalMode.ALL and reviewer not in self.reviewers:
            return False
        return not self.required_roles or bool(self.required_roles & set(roles))


@dataclass(frozen=True, slots=True)
class Workflow:
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a workflow needs at least one stage")
        keys = [s.key for s in self.stages]
        if len(set(keys)) != len(keys):
            raise ValueError(f"stage keys must be unique: {keys}")
        if sum(s.kind is StageKind.COMPLIANCE for s in self.stages) > 1:
            raise ValueError("a workflow has at most one compliance stage")

    def stage(self, key: str) -> Stage:
        for s in self.stages:
            if s.key == key:
                return s
        raise KeyError(key)


def default_workflow() -> Workflow:
    """Automatic compliance -> one approval by a reviewer or manager (not the author) ->
    a manager's approval when the item is important or part of a campaign."""
    return Workflow(
        (
            Stage("compliance", "Compliance check", StageKind.COMPLIANCE, sla_hours=1),
            Stage(
                "review",
                "Editorial review",
                StageKind.HUMAN,
                frozenset({"reviewer", MANAGER_ROLE}),
                sla_hours=24,
            ),
            Stage(
                "manager",
                "Manager approval",
                StageKind.HUMAN,
                frozenset({MANAGER_ROLE}),
                sla_hours=24,
                applies_to=AppliesTo.IMPORTANT_OR_CAMPAIGN,
            ),
        )
    )


# -- facts ---------------------------------------------------------------------------------


class Verdict(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class ReviewItem:
    item_id: str
    version: int
    author: str
    content_hash: str
    important: bool = False
    has_campaign: bool = False
    status: ItemStatus = ItemStatus.IN_REVIEW


@dataclass(frozen=True, slots=True)
class Decision:
    stage: str
    reviewer: str
    reviewer_roles: frozenset[str]
    decision: Verdict
    content_hash: str
    at: datetime
    comment: str = ""


@dataclass(frozen=True, slots=True)
class ComplianceCheck:
    """The outcome of scanning one version (counts of findings by severity)."""

    content_hash: str
    blocking: int
    warnings: int
    at: datetime


@dataclass(frozen=True, slots=True)
class ComplianceOverride:
    by: str
    by_roles: frozenset[str]
    reason: str
    at: datetime
    content_hash: str


@dataclass(frozen=True, slots=True)
class ReviewHistory:
    submitted_at: datetime | None = None
    decisions: tuple[Decision, ...] = ()
    checks: tuple[ComplianceCheck, ...] = ()
    overrides: tuple[ComplianceOverride, ...] = ()


# -- state ---------------------------------------------------------------------------------


class StageState(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    BLOCKED = "blocked"  # compliance: blocking findings and no override
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class StageResult:
    stage: str
    state: StageState
    approvals: tuple[str, ...] = ()
    needed: int = 0
    waiting_for: frozenset[str] = frozenset()  # named reviewers still to approve (mode all)
    entered_at: datetime | None = None
    passed_at: datetime | None = None
    sla_hours: float = 0.0

    @property
    def due_at(self) -> datetime | None:
        return (
            None if self.entered_at is None else self.entered_at + timedelta(hours=self.sla_hours)
        )


@dataclass(frozen=True, slots=True)
class ReviewState:
    stages: tuple[StageResult, ...]
    current: str | None
    status: ItemStatus

    def result(self, stage_key: str) -> StageResult:
        for r in self.stages:
            if r.stage == stage_key:
                return r
        raise KeyError(stage_key)


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """An event to emit, as plain data (the service wraps it in a CloudEvent)."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: ItemStatus
    stage: StageResult | None
    state: ReviewState
    history: ReviewHistory
    events: tuple[ReviewEvent, ...] = field(default=())


def active_stages(workflow: Workflow, item: ReviewItem) -> tuple[Stage, ...]:
    return tuple(s for s in workflow.stages if s.applies(item))


def evaluate(workflow: Workflow, item: ReviewItem, history: ReviewHistory) -> ReviewState:
    """The review state of the item's current version (as if it is in review)."""
    results: list[StageResult] = []
    current: str | None = None
    entered = history.submitted_at
    for stage in active_stages(workflow, item):
        if current is not None:
            results.append(StageResult(stage.key, StageState.PENDING, sla_hours=stage.sla_hours))
            continue
        result = _stage_result(stage, item, history, entered)
        results.append(result)
        if result.state is StageState.PASSED:
            entered = result.passed_at
        else:
            current = stage.key
    states = {r.state for r in results}
    if StageState.REJECTED in states:
        status = ItemStatus.REJECTED
    elif StageState.CHANGES_REQUESTED in states:
        status = ItemStatus.CHANGES_REQUESTED
    elif current is None:
        status = ItemStatus.APPROVED
    else:
        status = ItemStatus.IN_REVIEW
    return ReviewState(tuple(results), current, status)


def current_stage(workflow: Workflow, item: ReviewItem, history: ReviewHistory) -> Stage | None:
    key = evaluate(workflow, item, history).current
    return None if key is None else workflow.stage(key)


def _stage_result(
    stage: Stage, item: ReviewItem, history: ReviewHistory, entered: datetime | None
) -> StageResult:
    if stage.kind is StageKind.COMPLIANCE:
        return _compliance_result(stage, item, history, entered)
    latest: dict[str, Decision] = {}
    for d in sorted(history.decisions, key=lambda d: d.at):
        if (
            d.stage == stage.key
            and d.content_hash == item.content_hash
            and d.reviewer != item.author
        ):
            latest[d.reviewer] = d
    base = StageResult(stage.key, StageState.PENDING, entered_at=entered, sla_hours=stage.sla_hours)
    verdicts = {d.decision for d in latest.values()}
    if Verdict.REJECT in verdicts:
        return replace(base, state=StageState.REJECTED)
    if Verdict.REQUEST_CHANGES in verdicts:
        return replace(base, state=StageState.CHANGES_REQUESTED)
    approvals = sorted(latest.values(), key=lambda d: d.at)
    names = tuple(d.reviewer for d in approvals)
    required = stage.reviewers - {item.author} if stage.mode is ApprovalMode.ALL else frozenset()
    if required:
        waiting = required - set(names)
        passed_at = None if waiting else max(d.at for d in approvals if d.reviewer in required)
        needed = len(required)
    else:
        needed = stage.n if stage.mode is ApprovalMode.N else 1
        waiting = frozenset()
        passed_at = approvals[needed - 1].at if len(approvals) >= needed else None
    state = StageState.PASSED if passed_at is not None else StageState.PENDING
    return replace(
        base, state=state, approvals=names, needed=needed, waiting_for=waiting, passed_at=passed_at
    )


def _compliance_result(
    stage: Stage, item: ReviewItem, history: ReviewHistory, entered: datetime | None
) -> StageResult:
    base = StageResult(stage.key, StageState.PENDING, entered_at=entered, sla_hours=stage.sla_hours)
    checks = [c for c in history.checks if c.content_hash == item.content_hash]
    if not checks:
        return base  # waiting for the check of this version
    check = max(checks, key=lambda c: c.at)
    if check.blocking == 0:
        return replace(base, state=StageState.PASSED, passed_at=check.at)
    overrides = [
        o
        for o in history.overrides
        if o.content_hash == item.content_hash and _valid_override(o, item)
    ]
    if overrides:
        override = max(overrides, key=lambda o: o.at)
        return replace(
            base, state=StageState.PASSED, passed_at=override.at, approvals=(override.by,)
        )
    return replace(base, state=StageState.BLOCKED)


def _valid_override(override: ComplianceOverride, item: ReviewItem) -> bool:
    return (
        MANAGER_ROLE in override.by_roles
        and override.by != item.author
        and bool(override.reason.strip())
    )


# -- commands ------------------------------------------------------------------------------


def on_submit(workflow: Workflow, item: ReviewItem, history: ReviewHistory) -> Outcome:
    """The item goes from draft to review. Record the compliance check of this version and
    `submitted_at` in `history` first; a workflow that needs nobody approves at once."""
    if item.status is not ItemStatus.DRAFT:
        raise NotAllowed(f"only a draft can be submitted (item is {item.status})")
    if history.submitted_at is None:
        raise ValueError("history.submitted_at is required")
    in_review = replace(item, status=ItemStatus.IN_REVIEW)
    state = evaluate(workflow, in_review, history)
    events = [_event("mediaops.content.item.submitted", item)]
    events += _status_events(state.status, item)
    current = state.result(state.current) if state.current else None
    return Outcome(state.status, current, state, history, tuple(events))


def apply_decision(
    workflow: Workflow, item: ReviewItem, history: ReviewHistory, decision: Decision
) -> Outcome:
    if item.status is not ItemStatus.IN_REVIEW:
        raise NotAllowed(f"the item is not in review (it is {item.status})")
    if decision.content_hash != item.content_hash:
        raise StaleVersion(decision.content_hash, item.content_hash)
    if decision.reviewer == item.author:
        raise NotAllowed("authors cannot review their own content")
    state = evaluate(workflow, item, history)
    if state.current != decision.stage:
        raise NotAllowed(f"stage {decision.stage!r} is not the current stage ({state.current!r})")
    stage = workflow.stage(decision.stage)
    if stage.kind is StageKind.COMPLIANCE:
        raise NotAllowed("the compliance stage is decided by the check or a manager's override")
    if not stage.is_eligible(decision.reviewer, decision.reviewer_roles):
        raise NotAllowed(f"{decision.reviewer} may not decide stage {stage.key!r}")
    new_history = replace(history, decisions=(*history.decisions, decision))
    new_state = evaluate(workflow, item, new_history)
    decided = _event(
        "mediaops.content.review.decided",
        item,
        stage=stage.key,
        decision=str(decision.decision),
        reviewer=decision.reviewer,
    )
    events = (decided, *_status_events(new_state.status, item))
    return Outcome(new_state.status, new_state.result(stage.key), new_state, new_history, events)


def apply_override(
    workflow: Workflow, item: ReviewItem, history: ReviewHistory, override: ComplianceOverride
) -> Outcome:
    """A manager lets a version through the compliance stage despite blocking findings."""
    if item.status is not ItemStatus.IN_REVIEW:
        raise NotAllowed(f"the item is not in review (it is {item.status})")
    if override.content_hash != item.content_hash:
        raise StaleVersion(override.content_hash, item.content_hash)
    if MANAGER_ROLE not in override.by_roles:
        raise NotAllowed("only a manager can override the compliance check")
    if override.by == item.author:
        raise NotAllowed("authors cannot override the check of their own content")
    if not override.reason.strip():
        raise NotAllowed("an override needs a reason")
    state = evaluate(workflow, item, history)
    current = workflow.stage(state.current) if state.current else None
    if current is None or current.kind is not StageKind.COMPLIANCE:
        raise NotAllowed("the compliance stage is not the current stage")
    if state.result(current.key).state is not StageState.BLOCKED:
        raise NotAllowed("nothing to override: the compliance stage is not blocked")
    new_history = replace(history, overrides=(*history.overrides, override))
    new_state = evaluate(workflow, item, new_history)
    overridden = _event(
        "mediaops.content.compliance.overridden", item, by=override.by, reason=override.reason
    )
    events = (overridden, *_status_events(new_state.status, item))
    return Outcome(new_state.status, new_state.result(current.key), new_state, new_history, events)


def _event(type_: str, item: ReviewItem, **data: Any) -> ReviewEvent:
    payload = {"item_id": item.item_id, "version": item.version, "content_hash": item.content_hash}
    return ReviewEvent(type_, {**payload, **data})


def _status_events(status: ItemStatus, item: ReviewItem) -> list[ReviewEvent]:
    names = {
        ItemStatus.APPROVED: "mediaops.content.item.approved",
        ItemStatus.CHANGES_REQUESTED: "mediaops.content.item.changes_requested",
        ItemStatus.REJECTED: "mediaops.content.item.rejected",
    }
    return [_event(names[status], item)] if status in names else []


# -- SLAs ----------------------------------------------------------------------------------


def overdue(stage_entered_at: datetime, sla_hours: float, now: datetime) -> bool:
    return now - stage_entered_at > timedelta(hours=sla_hours)


@dataclass(frozen=True, slots=True)
class OverdueReview:
    item_id: str
    stage: str
    entered_at: datetime
    due_at: datetime
    overdue_by: timedelta


def overdue_reviews(
    workflow: Workflow, items: Iterable[tuple[ReviewItem, ReviewHistory]], now: datetime
) -> list[OverdueReview]:
    """Items in review whose current stage is past its SLA, most overdue first."""
    found: list[OverdueReview] = []
    for item, history in items:
        if item.status is not ItemStatus.IN_REVIEW:
            continue
        state = evaluate(workflow, item, history)
        if state.current is None:
            continue
        result = state.result(state.current)
        if result.entered_at is None or result.due_at is None:
            continue
        if overdue(result.entered_at, result.sla_hours, now):
            found.append(
                OverdueReview(
                    item.item_id,
                    result.stage,
                    result.entered_at,
                    result.due_at,
                    now - result.due_at,
                )
            )
    return sorted(found, key=lambda o: o.overdue_by, reverse=True)
