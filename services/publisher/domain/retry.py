"""What to do after a failed attempt: retry later, give up, wait for re-auth, or reconcile.

The back-off is exponential with full jitter (delay uniform in [0, min(cap, base * 2^(n-1))])
so that many publications failing together do not retry together. The random source is
passed in (a seeded `random.Random` in tests) to keep the rule pure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from services.publisher.connectors.base import (
    NeedsReauth,
    OutcomeUnknown,
    Permanent,
    Retriable,
)


class Action(StrEnum):
    RETRY = "retry"
    FAIL = "fail"
    REAUTH = "reauth"
    RECONCILE = "reconcile"


@dataclass(frozen=True)
class BackoffPolicy:
    base_s: float = 2.0
    cap_s: float = 900.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s or self.max_attempts < 1:
            raise ValueError("need 0 < base_s <= cap_s and max_attempts >= 1")

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay after attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        # Capping the exponent first keeps 2**n from growing without bound.
        exponent = min(attempt - 1, 62)
        return min(self.cap_s, self.base_s * (2**exponent))

    def next_delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after attempt `attempt` failed (full jitter)."""
        return rng.uniform(0.0, self.ceiling(attempt))

    def may_retry(self, attempts_made: int) -> bool:
        return attempts_made < self.max_attempts


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float = 0.0
    reason: str = ""


def classify(error: BaseException) -> Action:
    """The action an error class calls for, before any attempt budget is considered.

    Anything that is not a connector error might have happened after the request left
    (a bug while reading the answer), so it is reconciled rather than retried blindly.
    """
    if isinstance(error, Retriable):
        return Action.RETRY
    if isinstance(error, Permanent):
        return Action.FAIL
    if isinstance(error, NeedsReauth):
        return Action.REAUTH
    if isinstance(error, OutcomeUnknown):
        return Action.RECONCILE
    return Action.RECONCILE


def decide(
    error: BaseException, attempts_made: int, policy: BackoffPolicy, rng: random.Random
) -> Decision:
    """The full decision after attempt number `attempts_made` raised `error`.

    A retry waits at least the platform's `defer_s` (Retry-After); past the attempt budget
    it becomes a failure. Reconciliation is never turned into a blind retry here: once
    reconciliation proves nothing was posted, the caller asks again with `after_reconcile`.
    """
    action = classify(error)
    reason = f"{type(error).__name__}: {error}"
    if action is Action.RETRY:
        if not policy.may_retry(attempts_made):
            return Decision(Action.FAIL, reason=f"gave up after {attempts_made} attempts: {reason}")
        defer = getattr(error, "defer_s", 0.0) or 0.0
        return Decision(Action.RETRY, max(defer, policy.next_delay(attempts_made, rng)), reason)
    return Decision(action, reason=reason)


def after_reconcile_missing(
    attempts_made: int, policy: BackoffPolicy, rng: random.Random
) -> Decision:
    """Reconciliation found nothing: retry (safe now) within the budget, else fail."""
    if not policy.may_retry(attempts_made):
        return Decision(Action.FAIL, reason=f"not posted after {attempts_made} attempts")
    return Decision(Action.RETRY, policy.next_delay(attempts_made, rng), "not found on platform")
