from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.events.catalog.base import Payload


class PublicationScheduled(Payload):
    publication_id: str
    item_id: str
    variant_id: str | None = None
    account_id: str
    channel: str
    scheduled_at: datetime


class PublicationPublished(Payload):
    publication_id: str
    item_id: str
    variant_id: str | None = None
    topic_id: str | None = None
    campaign_id: str | None = None
    account_id: str
    channel: str
    external_id: str
    url: str | None = None
    published_at: datetime
    format: str | None = None
    pillar: str | None = None
    title: str | None = None


class PublicationFailed(Payload):
    publication_id: str
    item_id: str
    account_id: str
    channel: str
    reason: str
    attempts: int


class PublicationRef(Payload):
    publication_id: str
    item_id: str
    account_id: str
    channel: str
    reason: str | None = None


class AccountNeedsReauth(Payload):
    account_id: str
    channel: str
    reason: str


class PublicationStatsCaptured(Payload):
    """Raw platform counters of one post at a post-age checkpoint (metrics normalises them)."""

    publication_id: str
    item_id: str
    account_id: str
    channel: str
    external_id: str
    checkpoint: str
    published_at: datetime
    captured_at: datetime
    values: dict[str, float]
    raw: dict[str, Any] = {}


class AccountStatsCaptured(Payload):
    account_id: str
    channel: str
    captured_at: datetime
    followers: float | None = None
    values: dict[str, float] = {}


class DispatchPublication(Payload):
    """Command: post this publication now (one handler: a publisher worker)."""

    publication_id: str
    attempt: int = 1


EVENTS: dict[str, tuple[type[Payload], str]] = {
    "mediaops.publisher.publication.scheduled": (PublicationScheduled, "A post was scheduled."),
    "mediaops.publisher.publication.published": (
        PublicationPublished,
        "A post is live on the platform.",
    ),
    "mediaops.publisher.publication.failed": (PublicationFailed, "Publishing gave up."),
    "mediaops.publisher.publication.unknown": (
        PublicationRef,
        "The outcome of a post is unknown; reconciliation follows.",
    ),
    "mediaops.publisher.publication.cancelled": (PublicationRef, "A post was cancelled."),
    "mediaops.publisher.publication.overdue": (
        PublicationRef,
        "A post is due but was not dispatched in time.",
    ),
    "mediaops.publisher.publication.stats_captured": (
        PublicationStatsCaptured,
        "A post's platform counters at a post-age checkpoint.",
    ),
    "mediaops.publisher.account.stats_captured": (
        AccountStatsCaptured,
        "An account's daily figures (followers).",
    ),
    "mediaops.publisher.account.needs_reauth": (
        AccountNeedsReauth,
        "An account's credentials must be renewed by a person.",
    ),
}

COMMANDS: dict[str, tuple[type[Payload], str]] = {
    "mediaops.publisher.publication.dispatch": (
        DispatchPublication,
        "Command to a publisher worker: post this publication.",
    ),
}
