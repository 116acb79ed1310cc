from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.events.catalog.base import Payload


class ItemRef(Payload):
    item_id: str
    version: int
    title: str | None = None
    format: str | None = None
    topic_id: str | None = None
    campaign_id: str | None = None
    content_hash: str | None = None
    owner: str | None = None
    status: str | None = None


class ReviewDecided(Payload):
    item_id: str
    version: int
    stage: str
    decision: str
    reviewer: str
    comment: str | None = None
    item_status: str
    content_hash: str | None = None
    anchor: dict[str, Any] | None = None


class ApprovedVariant(Payload):
    """The approved text of one channel variant: what the publisher will post, verbatim."""

    variant_id: str
    channel: str
    title: str | None = None
    body: str = ""
    hashtags: list[str] = []
    media: list[dict[str, Any]] = []
    link: str | None = None


class ItemApproved(Payload):
    item_id: str
    version: int
    content_hash: str
    title: str
    format: str
    # The master text, posted where no channel variant exists (e.g. webhook, rss, email).
    summary: str | None = None
    body: str = ""
    tags: list[str] = []
    media: list[dict[str, Any]] = []
    link: str | None = None
    pillar: str | None = None
    topic_id: str | None = None
    campaign_id: str | None = None
    planned_for: datetime | None = None
    account_ids: list[str] = []
    variants: list[ApprovedVariant] = []
    title_alternatives: list[str] = []


class ItemRevised(Payload):
    """An approved item was edited: its approval no longer covers the current version."""

    item_id: str
    version: int
    content_hash: str
    approved_hash: str


class ItemPublished(Payload):
    item_id: str
    publication_id: str
    channel: str
    version: int | None = None
    url: str | None = None
    published_at: datetime | None = None


class ComplianceOverridden(Payload):
    """A manager let a version through the compliance stage despite blocking findings."""

    item_id: str
    version: int
    content_hash: str
    by: str
    reason: str
    terms: list[str] = []


class ReviewOverdue(Payload):
    item_id: str
    version: int
    stage: str
    entered_at: datetime
    sla_hours: float


EVENTS: dict[str, tuple[type[Payload], str]] = {
    "mediaops.content.item.created": (ItemRef, "A content item was created."),
    "mediaops.content.item.submitted": (ItemRef, "An item was sent to review."),
    "mediaops.content.review.decided": (ReviewDecided, "A reviewer decided on a stage."),
    "mediaops.content.item.changes_requested": (ReviewDecided, "A reviewer asked for changes."),
    "mediaops.content.item.rejected": (ReviewDecided, "A reviewer rejected the item (final)."),
    "mediaops.content.compliance.overridden": (
        ComplianceOverridden,
        "A manager overrode blocking compliance findings, with a reason.",
    ),
    "mediaops.content.item.published": (
        ItemPublished,
        "A publication of the item went live; the item is published.",
    ),
    "mediaops.content.item.approved": (ItemApproved, "Every required review stage approved."),
    "mediaops.content.review.overdue": (ReviewOverdue, "A review stage passed its SLA."),
    "mediaops.content.item.revised": (
        ItemRevised,
        "An approved item was edited; it must be approved again before publishing.",
    ),
}
