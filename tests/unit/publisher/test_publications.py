from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from services.publisher.domain.errors import DomainError, InvalidTransition
from services.publisher.domain.publications import (
    PublicationStatus as S,
)
from services.publisher.domain.publications import (
    cancel,
    content_fingerprint,
    hold_for_reauth,
    idempotency_key,
    mark_failed,
    mark_published,
    mark_unknown,
    new_publication,
    reconciled_found,
    reconciled_missing,
    reschedule,
    resume_after_reauth,
    retry_later,
    start_dispatch,
)

PID = UUID("3f2b8c1e-0000-4000-8000-000000000001")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def dispatching():
    return start_dispatch(new_publication(PID, T0), T0)


def published(state):
    return mark_published(state, external_id="42", url="https://x/42", published_at=T0)


def test_happy_path_counts_one_attempt_and_keeps_the_platform_ids():
    state = published(dispatching())
    assert state.status is S.PUBLISHED
    assert (state.attempts, state.external_id, state.url) == (1, "42", "https://x/42")
    assert state.is_terminal


def test_dispatch_before_due_is_refused():
    with pytest.raises(InvalidTransition):
        start_dispatch(new_publication(PID, T0), T0 - timedelta(seconds=1))


def test_scheduled_at_must_be_aware():
    with pytest.raises(DomainError) as err:
        new_publication(PID, datetime(2026, 3, 1, 9, 0))
    assert err.value.field == "scheduled_at"


def test_retriable_error_goes_back_to_scheduled_with_next_attempt():
    retry_at = T0 + timedelta(seconds=30)
    state = retry_later(dispatching(), retry_at, "503")
    assert (state.status, state.next_attempt_at, state.due_at) == (S.SCHEDULED, retry_at, retry_at)
    with pytest.raises(InvalidTransition):
        start_dispatch(state, T0 + timedelta(seconds=29))
    again = start_dispatch(state, retry_at)
    assert (again.status, again.attempts) == (S.DISPATCHING, 2)


def test_unknown_resolves_to_published_or_safe_retry_or_failed():
    unknown = mark_unknown(dispatching(), "read timeout")
    assert unknown.status is S.UNKNOWN
    found = reconciled_found(unknown, external_id="7", url=None, published_at=T0)
    assert (found.status, found.external_id) == (S.PUBLISHED, "7")
    retry_at = T0 + timedelta(minutes=1)
    missing = reconciled_missing(unknown, retry_at)
    assert (missing.status, missing.next_attempt_at) == (S.SCHEDULED, retry_at)
    assert mark_failed(unknown, "gave up").status is S.FAILED


def test_unknown_cannot_be_dispatched_or_retried_blindly():
    unknown = mark_unknown(dispatching(), "reset")
    with pytest.raises(InvalidTransition):
        start_dispatch(unknown, T0 + timedelta(hours=1))
    with pytest.raises(InvalidTransition):
        retry_later(unknown, T0 + timedelta(hours=1), "x")


def test_cancel_from_scheduled_is_immediate_and_repeatable():
    state = cancel(new_publication(PID, T0))
    assert state.status is S.CANCELLED
    assert cancel(state) == state
    with pytest.raises(InvalidTransition):
        start_dispatch(state, T0)


def test_cancel_of_published_or_failed_is_refused():
    with pytest.raises(InvalidTransition):
        cancel(published(dispatching()))
    with pytest.raises(InvalidTransition):
        cancel(mark_failed(dispatching(), "422"))


def test_cancel_while_dispatching_ends_published_when_the_post_was_made():
    state = cancel(dispatching())
    assert (state.status, state.cancel_requested) == (S.DISPATCHING, True)
    assert published(state).status is S.PUBLISHED


@pytest.mark.parametrize(
    "outcome",
    [
        lambda s: retry_later(s, T0 + timedelta(minutes=1), "503"),
        lambda s: mark_failed(s, "422"),
        lambda s: hold_for_reauth(s, "401"),
        lambda s: reconciled_missing(mark_unknown(s, "timeout"), T0 + timedelta(minutes=1)),
    ],
)
def test_cancel_while_dispatching_ends_cancelled_when_nothing_was_posted(outcome):
    assert outcome(cancel(dispatching())).status is S.CANCELLED


def test_cancel_during_unknown_then_found_is_published_not_both():
    state = cancel(mark_unknown(dispatching(), "timeout"))
    done = reconciled_found(state, external_id="9", url=None, published_at=T0)
    assert done.status is S.PUBLISHED


def test_reauth_hold_blocks_dispatch_until_resumed():
    held = hold_for_reauth(dispatching(), "token expired")
    assert (held.status, held.waiting_reauth) == (S.SCHEDULED, True)
    with pytest.raises(InvalidTransition):
        start_dispatch(held, T0 + timedelta(days=1))
    later = T0 + timedelta(hours=2)
    resumed = resume_after_reauth(held, later)
    assert resumed.due_at == later
    assert start_dispatch(resumed, later).attempts == 2


def test_reschedule_only_before_dispatch():
    state = reschedule(new_publication(PID, T0), T0 + timedelta(days=1))
    assert state.scheduled_at == T0 + timedelta(days=1)
    with pytest.raises(InvalidTransition):
        reschedule(dispatching(), T0 + timedelta(days=1))


def test_idempotency_key_is_stable_per_publication():
    assert idempotency_key(PID) == f"mo-{PID}"
    assert (
        dispatching().idempotency_key
        == retry_later(dispatching(), T0 + timedelta(seconds=1), "x").idempotency_key
    )
    assert idempotency_key(UUID(int=1)) != idempotency_key(UUID(int=2))


def test_fingerprint_ignores_case_spacing_and_unicode_form():
    a = content_fingerprint("Hello  World\n#Launch")
    assert a == content_fingerprint("  hello world #launch ")
    assert a == content_fingerprint("Ｈｅｌｌｏ World #Launch")  # full-width letters (NFKC)
    assert a != content_fingerprint("Hello World #Launch!")
    assert len(a) == 64
