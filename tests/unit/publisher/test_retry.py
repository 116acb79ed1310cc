import random

import pytest

from services.publisher.connectors.base import (
    NeedsReauth,
    OutcomeUnknown,
    Permanent,
    Retriable,
)
from services.publisher.domain.retry import (
    Action,
    BackoffPolicy,
    after_reconcile_missing,
    classify,
    decide,
)


def test_delays_stay_within_the_exponential_ceiling_and_the_cap():
    policy = BackoffPolicy(base_s=1.0, cap_s=30.0, max_attempts=10)
    rng = random.Random(7)
    assert [policy.ceiling(n) for n in (1, 2, 3, 5, 6, 50)] == [1, 2, 4, 16, 30, 30]
    for attempt in range(1, 12):
        for _ in range(200):
            assert 0.0 <= policy.next_delay(attempt, rng) <= policy.ceiling(attempt)


def test_jitter_spreads_and_is_reproducible_from_the_seed():
    policy = BackoffPolicy(base_s=1.0, cap_s=1000.0)
    first = random.Random(3)
    again = random.Random(3)
    assert [policy.next_delay(8, first) for _ in range(5)] == [
        policy.next_delay(8, again) for _ in range(5)
    ]
    rng = random.Random(1)
    delays = [policy.next_delay(8, rng) for _ in range(500)]
    assert min(delays) < 20 and max(delays) > 100  # full jitter, not a fixed delay


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (Retriable("503"), Action.RETRY),
        (Permanent("422"), Action.FAIL),
        (NeedsReauth("401"), Action.REAUTH),
        (OutcomeUnknown("timeout"), Action.RECONCILE),
        (RuntimeError("bug after send?"), Action.RECONCILE),
    ],
)
def test_classify_maps_error_classes(error, action):
    assert classify(error) is action


def test_retry_waits_at_least_retry_after():
    policy = BackoffPolicy(base_s=1.0, cap_s=2.0)
    decision = decide(Retriable("429", defer_s=45.0), 1, policy, random.Random(0))
    assert decision.action is Action.RETRY
    assert decision.delay_s == 45.0


def test_retry_becomes_failure_past_the_attempt_budget():
    policy = BackoffPolicy(max_attempts=3)
    assert decide(Retriable("503"), 2, policy, random.Random(0)).action is Action.RETRY
    final = decide(Retriable("503"), 3, policy, random.Random(0))
    assert final.action is Action.FAIL
    assert "3 attempts" in final.reason


def test_unknown_outcome_is_reconciled_even_past_the_budget():
    policy = BackoffPolicy(max_attempts=1)
    assert decide(OutcomeUnknown("t"), 5, policy, random.Random(0)).action is Action.RECONCILE
    assert after_reconcile_missing(5, policy, random.Random(0)).action is Action.FAIL
    policy = BackoffPolicy(max_attempts=6)
    assert after_reconcile_missing(5, policy, random.Random(0)).action is Action.RETRY


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        BackoffPolicy(base_s=10, cap_s=1)
    with pytest.raises(ValueError):
        BackoffPolicy().ceiling(0)
