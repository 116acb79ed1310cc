from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.content.domain.review import (
    AppliesTo,
    ApprovalMode,
    ComplianceCheck,
    ComplianceOverride,
    Decision,
    ItemStatus,
    NotAllowed,
    ReviewHistory,
    ReviewItem,
    Stage,
    StageKind,
    StageState,
    StaleVersion,
    Verdict,
    Workflow,
    active_stages,
    apply_decision,
    apply_override,
    can_transition,
    current_stage,
    default_workflow,
    evaluate,
    on_submit,
    overdue,
    overdue_reviews,
    status_after_edit,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H1, H2 = "a" * 64, "b" * 64
REVIEWER = frozenset({"reviewer"})
MANAGER = frozenset({"manager"})
EDITOR = frozenset({"editor"})
WF = default_workflow()


def item(**kw) -> ReviewItem:
    base = ReviewItem(item_id="it-1", version=2, author="alice", content_hash=H1)
    return replace(base, **kw)


def clean(at: datetime = T0, h: str = H1) -> ComplianceCheck:
    return ComplianceCheck(h, blocking=0, warnings=1, at=at)


def history(*decisions: Decision, checks=None, overrides=()) -> ReviewHistory:
    checks = (clean(),) if checks is None else checks
    return ReviewHistory(T0, tuple(decisions), tuple(checks), tuple(overrides))


def decide(stage, who, roles, verdict=Verdict.APPROVE, h=H1, minutes=10) -> Decision:
    return Decision(stage, who, roles, verdict, h, T0 + timedelta(minutes=minutes))


def test_default_workflow_shape() -> None:
    keys = [(s.key, s.kind, s.applies_to) for s in WF.stages]
    assert keys == [
        ("compliance", StageKind.COMPLIANCE, AppliesTo.ALWAYS),
        ("review", StageKind.HUMAN, AppliesTo.ALWAYS),
        ("manager", StageKind.HUMAN, AppliesTo.IMPORTANT_OR_CAMPAIGN),
    ]
    assert [s.key for s in active_stages(WF, item())] == ["compliance", "review"]
    assert [s.key for s in active_stages(WF, item(important=True))] == [
        "compliance",
        "review",
        "manager",
    ]
    assert [s.key for s in active_stages(WF, item(has_campaign=True))][-1] == "manager"


def test_workflow_validation() -> None:
    with pytest.raises(ValueError):
        Workflow(())
    s = Stage("x", "X", StageKind.HUMAN)
    with pytest.raises(ValueError):
        Workflow((s, s))
    with pytest.raises(ValueError):
        Stage("y", "Y", StageKind.HUMAN, mode=ApprovalMode.N, n=0)
    with pytest.raises(ValueError):
        Stage("z", "Z", StageKind.HUMAN, mode=ApprovalMode.ALL)  # 'all' needs names
    c = Stage("c", "C", StageKind.COMPLIANCE)
    with pytest.raises(ValueError):
        Workflow((c, replace(c, key="c2")))


def test_normal_item_needs_compliance_then_one_review() -> None:
    it = item()
    assert current_stage(WF, it, history(checks=())).key == "compliance"
    assert current_stage(WF, it, history()).key == "review"
    out = apply_decision(WF, it, history(), decide("review", "bob", REVIEWER))
    assert out.status is ItemStatus.APPROVED
    assert out.stage.state is StageState.PASSED
    assert [e.type for e in out.events] == [
        "mediaops.content.review.decided",
        "mediaops.content.item.approved",
    ]
    assert out.events[1].data == {"item_id": "it-1", "version": 2, "content_hash": H1}
    assert out.history.decisions[-1].reviewer == "bob"


def test_important_item_also_needs_a_manager() -> None:
    it = item(important=True)
    out = apply_decision(WF, it, history(), decide("review", "bob", REVIEWER))
    assert out.status is ItemStatus.IN_REVIEW
    assert out.state.current == "manager"
    with pytest.raises(NotAllowed):  # a reviewer lacks the manager role
        apply_decision(WF, it, out.history, decide("manager", "bob", REVIEWER, minutes=20))
    done = apply_decision(WF, it, out.history, decide("manager", "carol", MANAGER, minutes=20))
    assert done.status is ItemStatus.APPROVED
    assert done.state.result("manager").passed_at == T0 + timedelta(minutes=20)


def test_author_cannot_approve_own_item() -> None:
    with pytest.raises(NotAllowed):
        apply_decision(WF, item(author="bob"), history(), decide("review", "bob", MANAGER))


def test_reviewer_needs_a_stage_role() -> None:
    with pytest.raises(NotAllowed):
        apply_decision(WF, item(), history(), decide("review", "dan", EDITOR))


def test_decision_on_a_stage_that_is_not_current() -> None:
    it = item(important=True)
    with pytest.raises(NotAllowed):
        apply_decision(WF, it, history(), decide("manager", "carol", MANAGER))
    with pytest.raises(NotAllowed):  # compliance is decided by the check, not by people
        apply_decision(WF, it, history(checks=()), decide("compliance", "carol", MANAGER))


def test_decision_on_an_old_version_is_stale() -> None:
    with pytest.raises(StaleVersion) as err:
        apply_decision(WF, item(content_hash=H2), history(), decide("review", "bob", REVIEWER))
    assert (err.value.given, err.value.current) == (H1, H2)


def test_approvals_of_an_older_version_do_not_count() -> None:
    h = history(decide("review", "bob", REVIEWER), checks=(clean(), clean(h=H2)))
    assert evaluate(WF, item(), h).status is ItemStatus.APPROVED
    edited = item(content_hash=H2, version=3)
    state = evaluate(WF, edited, h)
    assert state.status is ItemStatus.IN_REVIEW
    assert state.current == "review"
    assert state.result("review").approvals == ()


def test_item_not_in_review_is_refused() -> None:
    with pytest.raises(NotAllowed):
        apply_decision(
            WF, item(status=ItemStatus.DRAFT), history(), decide("review", "bob", REVIEWER)
        )


def test_request_changes_and_reject() -> None:
    out = apply_decision(
        WF, item(), history(), decide("review", "bob", REVIEWER, Verdict.REQUEST_CHANGES)
    )
    assert out.status is ItemStatus.CHANGES_REQUESTED
    assert out.events[-1].type == "mediaops.content.item.changes_requested"
    out = apply_decision(WF, item(), history(), decide("review", "bob", REVIEWER, Verdict.REJECT))
    assert out.status is ItemStatus.REJECTED
    assert out.events[-1].type == "mediaops.content.item.rejected"


def test_latest_decision_of_a_reviewer_counts() -> None:
    first = decide("review", "bob", REVIEWER, Verdict.REQUEST_CHANGES, minutes=5)
    state = evaluate(WF, item(), history(first, decide("review", "bob", REVIEWER, minutes=9)))
    assert state.status is ItemStatus.APPROVED


def test_mode_n_needs_distinct_reviewers() -> None:
    wf = Workflow((Stage("peer", "Peers", StageKind.HUMAN, REVIEWER, ApprovalMode.N, n=2),))
    one = apply_decision(wf, item(), history(), decide("peer", "bob", REVIEWER))
    assert one.status is ItemStatus.IN_REVIEW
    again = apply_decision(wf, item(), one.history, decide("peer", "bob", REVIEWER, minutes=11))
    assert again.status is ItemStatus.IN_REVIEW  # the same person twice is one approval
    two = apply_decision(wf, item(), again.history, decide("peer", "eve", REVIEWER, minutes=12))
    assert two.status is ItemStatus.APPROVED
    assert two.stage.approvals == ("bob", "eve")


def test_mode_all_needs_every_named_reviewer_except_the_author() -> None:
    named = frozenset({"alice", "bob", "eve"})
    wf = Workflow(
        (Stage("legal", "Legal", StageKind.HUMAN, mode=ApprovalMode.ALL, reviewers=named),)
    )
    out = apply_decision(wf, item(), history(), decide("legal", "bob", EDITOR))
    assert out.stage.waiting_for == {"eve"}
    assert out.stage.needed == 2  # alice is the author and is not waited for
    with pytest.raises(NotAllowed):  # not a named reviewer
        apply_decision(wf, item(), out.history, decide("legal", "mallory", MANAGER))
    done = apply_decision(wf, item(), out.history, decide("legal", "eve", EDITOR, minutes=30))
    assert done.status is ItemStatus.APPROVED


def test_blocking_finding_blocks_until_a_manager_overrides() -> None:
    blocked = history(checks=(ComplianceCheck(H1, blocking=2, warnings=0, at=T0),))
    state = evaluate(WF, item(), blocked)
    assert (state.current, state.result("compliance").state) == ("compliance", StageState.BLOCKED)

    def override(by="carol", roles=MANAGER, reason="quoted statute", h=H1):
        return ComplianceOverride(by, roles, reason, T0 + timedelta(minutes=3), h)

    with pytest.raises(NotAllowed):
        apply_override(WF, item(), blocked, override(roles=REVIEWER))
    with pytest.raises(NotAllowed):
        apply_override(WF, item(), blocked, override(reason="  "))
    with pytest.raises(NotAllowed):
        apply_override(WF, item(author="carol"), blocked, override())
    with pytest.raises(StaleVersion):
        apply_override(WF, item(), blocked, override(h=H2))
    with pytest.raises(NotAllowed):  # nothing blocked
        apply_override(WF, item(), history(), override())

    out = apply_override(WF, item(), blocked, override())
    assert out.status is ItemStatus.IN_REVIEW
    assert out.state.current == "review"
    assert out.events[0].type == "mediaops.content.compliance.overridden"
    assert out.events[0].data["reason"] == "quoted statute"
    # the override is bound to the version too
    assert evaluate(WF, item(content_hash=H2), out.history).current == "compliance"


def test_submit_runs_to_the_first_human_stage_or_approves() -> None:
    draft = item(status=ItemStatus.DRAFT)
    out = on_submit(WF, draft, history())
    assert (out.status, out.state.current) == (ItemStatus.IN_REVIEW, "review")
    assert [e.type for e in out.events] == ["mediaops.content.item.submitted"]
    only_check = Workflow((Stage("c", "Check", StageKind.COMPLIANCE),))
    auto = on_submit(only_check, draft, history())
    assert auto.status is ItemStatus.APPROVED
    assert [e.type for e in auto.events][-1] == "mediaops.content.item.approved"
    with pytest.raises(NotAllowed):
        on_submit(WF, item(), history())  # already in review


def test_status_machine() -> None:
    assert can_transition(ItemStatus.DRAFT, ItemStatus.IN_REVIEW)
    assert can_transition(ItemStatus.APPROVED, ItemStatus.PUBLISHED)
    assert can_transition(ItemStatus.CHANGES_REQUESTED, ItemStatus.DRAFT)
    assert not can_transition(ItemStatus.DRAFT, ItemStatus.APPROVED)
    assert not can_transition(ItemStatus.CHANGES_REQUESTED, ItemStatus.APPROVED)
    assert not can_transition(ItemStatus.REJECTED, ItemStatus.DRAFT)
    assert not can_transition(ItemStatus.IN_REVIEW, ItemStatus.PUBLISHED)
    assert status_after_edit(ItemStatus.APPROVED) is ItemStatus.DRAFT
    assert status_after_edit(ItemStatus.PUBLISHED) is ItemStatus.DRAFT
    with pytest.raises(NotAllowed):
        status_after_edit(ItemStatus.REJECTED)


def test_sla_and_overdue_list() -> None:
    assert overdue(T0, 1, T0 + timedelta(minutes=61))
    assert not overdue(T0, 1, T0 + timedelta(minutes=60))
    late = item(item_id="late")
    later = item(item_id="later", important=True)
    fresh = item(item_id="fresh")
    now = T0 + timedelta(hours=30)
    h_late = history()  # review entered at the check (T0), 24 h SLA
    h_later = history(decide("review", "bob", REVIEWER, minutes=0))  # manager stage from T0
    h_fresh = replace(history(checks=(clean(at=now - timedelta(hours=1)),)), submitted_at=now)
    found = overdue_reviews(WF, [(late, h_late), (later, h_later), (fresh, h_fresh)], now)
    assert [(o.item_id, o.stage, o.overdue_by) for o in found] == [
        ("late", "review", timedelta(hours=6)),
        ("later", "manager", timedelta(hours=6)),
    ]
