"""The publication state machine, its idempotency key and content fingerprint.

    scheduled --start_dispatch--> dispatching --mark_published--> published
        ^  |                        |  |  |--mark_failed------> failed
        |  |cancel                  |  |--retry_later-------> scheduled (next_attempt_at)
        |  v                        |  |--hold_for_reauth---> scheduled (waits for the account)
        | cancelled                 |--mark_unknown-------> unknown
        |                                                      |--reconciled_found----> published
        +------------------reconciled_missing------------------+--mark_failed---------> failed

A cancel while dispatching (or unknown) only sets `cancel_requested`: the post may already be
out, so the outcome decides. Made -> published; not made -> cancelled. Never both.
A stale `dispatching` (worker died, lease expired) must go through `mark_unknown`: nobody
knows whether the request left.

States are immutable; every transition returns a new `PublicationState`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from services.publisher.domain.errors import DomainError, InvalidTransition


class PublicationStatus(StrEnum):
    SCHEDULED = "scheduled"
    DISPATCHING = "dispatching"
    PUBLISHED = "published"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset(
    {PublicationStatus.PUBLISHED, PublicationStatus.FAILED, PublicationStatus.CANCELLED}
)


@dataclass(frozen=True)
class PublicationState:
    """What the rules need of one publication (the row holds more)."""

    id: UUID
    status: PublicationStatus
    scheduled_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    cancel_requested: bool = False
    waiting_reauth: bool = False
    external_id: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    last_error: str | None = None

    @property
    def due_at(self) -> datetime:
        """When the scheduler may claim it: the retry time if any, else the planned time."""
        return self.next_attempt_at or self.scheduled_at

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.id)


def new_publication(publication_id: UUID, scheduled_at: datetime) -> PublicationState:
    _require_aware(scheduled_at, "scheduled_at")
    return PublicationState(
        id=publication_id, status=PublicationStatus.SCHEDULED, scheduled_at=scheduled_at
    )


def _require(state: PublicationState, action: str, *allowed: PublicationStatus) -> None:
    if state.status not in allowed:
        raise InvalidTransition(state.status.value, action)


def _require_aware(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(f"{field} must carry a time zone offset", field=field)


def reschedule(state: PublicationState, scheduled_at: datetime) -> PublicationState:
    """Move a not yet dispatched publication to another time (resets any retry delay)."""
    _require(state, "reschedule", PublicationStatus.SCHEDULED)
    _require_aware(scheduled_at, "scheduled_at")
    return replace(state, scheduled_at=scheduled_at, next_attempt_at=None)


def start_dispatch(state: PublicationState, now: datetime) -> PublicationState:
    """The scheduler claimed it; counts one attempt. Refused before it is due."""
    _require(state, "dispatch", PublicationStatus.SCHEDULED)
    if state.waiting_reauth:
        raise InvalidTransition("waiting for re-authorisation", "dispatch")
    if now < state.due_at:
        raise InvalidTransition("not yet due", "dispatch")
    return replace(state, status=PublicationStatus.DISPATCHING, attempts=state.attempts + 1)


def mark_published(
    state: PublicationState, *, external_id: str, url: str | None, published_at: datetime
) -> PublicationState:
    """The platform confirmed the post. Wins over a pending cancel: the post is out."""
    _require(state, "mark published", PublicationStatus.DISPATCHING, PublicationStatus.UNKNOWN)
    return replace(
        state,
        status=PublicationStatus.PUBLISHED,
        external_id=external_id,
        url=url,
        published_at=published_at,
        next_attempt_at=None,
        last_error=None,
    )


def mark_failed(state: PublicationState, reason: str) -> PublicationState:
    """Give up. Nothing was posted, so a pending cancel ends as cancelled instead."""
    _require(state, "mark failed", PublicationStatus.DISPATCHING, PublicationStatus.UNKNOWN)
    status = PublicationStatus.CANCELLED if state.cancel_requested else PublicationStatus.FAILED
    return replace(state, status=status, next_attempt_at=None, last_error=reason)


def retry_later(state: PublicationState, next_attempt_at: datetime, error: str) -> PublicationState:
    """A retriable error: nothing was posted; back to scheduled (or cancelled if asked)."""
    _require(state, "retry", PublicationStatus.DISPATCHING)
    _require_aware(next_attempt_at, "next_attempt_at")
    if state.cancel_requested:
        return replace(state, status=PublicationStatus.CANCELLED, last_error=error)
    return replace(
        state,
        status=PublicationStatus.SCHEDULED,
        next_attempt_at=next_attempt_at,
        last_error=error,
    )


def hold_for_reauth(state: PublicationState, error: str) -> PublicationState:
    """The account needs re-authorisation: nothing was posted; wait for `resume_after_reauth`."""
    _require(state, "hold for re-authorisation", PublicationStatus.DISPATCHING)
    if state.cancel_requested:
        return replace(state, status=PublicationStatus.CANCELLED, last_error=error)
    return replace(state, status=PublicationStatus.SCHEDULED, waiting_reauth=True, last_error=error)


def resume_after_reauth(state: PublicationState, now: datetime) -> PublicationState:
    """The account works again: due right away (or at its planned time if still ahead)."""
    _require(state, "resume", PublicationStatus.SCHEDULED)
    return replace(state, waiting_reauth=False, next_attempt_at=max(now, state.scheduled_at))


def mark_unknown(state: PublicationState, error: str) -> PublicationState:
    """The request may have left (timeout, reset, worker death): reconcile before anything."""
    _require(state, "mark unknown", PublicationStatus.DISPATCHING)
    return replace(state, status=PublicationStatus.UNKNOWN, last_error=error)


def reconciled_found(
    state: PublicationState, *, external_id: str, url: str | None, published_at: datetime
) -> PublicationState:
    """Reconciliation found the post on the platform."""
    _require(state, "reconcile", PublicationStatus.UNKNOWN)
    return mark_published(state, external_id=external_id, url=url, published_at=published_at)


def reconciled_missing(state: PublicationState, next_attempt_at: datetime) -> PublicationState:
    """Reconciliation proved nothing was posted: a retry is safe now (or cancelled if asked)."""
    _require(state, "reconcile", PublicationStatus.UNKNOWN)
    _require_aware(next_attempt_at, "next_attempt_at")
    if state.cancel_requested:
        return replace(state, status=PublicationStatus.CANCELLED)
    return replace(state, status=PublicationStatus.SCHEDULED, next_attempt_at=next_attempt_at)


def cancel(state: PublicationState) -> PublicationState:
    """Cancel now when nothing is in flight; otherwise request it and let the outcome decide.
    Cancelling a cancelled publication is a no-op; a published or failed one cannot be."""
    if state.status is PublicationStatus.CANCELLED:
        return state
    if state.status is PublicationStatus.SCHEDULED:
        return replace(state, status=PublicationStatus.CANCELLED, next_attempt_at=None)
    if state.status in (PublicationStatus.DISPATCHING, PublicationStatus.UNKNOWN):
        return replace(state, cancel_requested=True)
    raise InvalidTransition(state.status.value, "cancel")


def idempotency_key(publication_id: UUID) -> str:
    """The same for every attempt of one publication, so a retry can never post twice."""
    return f"mo-{publication_id}"


_WHITESPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Fold what platforms change on the way (Unicode form, case, spacing)."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_fingerprint(text: str) -> str:
    """sha256 of the normalised text: finds a post by content where keys are not kept."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()
