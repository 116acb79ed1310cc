from __future__ import annotations

from datetime import datetime

from shared.events.catalog.base import Payload


class GoalChanged(Payload):
    goal_id: str
    name: str
    metric: str
    target: float
    baseline: float = 0.0
    period_start: datetime
    period_end: datetime
    channel: str | None = None
    campaign_id: str | None = None
    status: str = "active"


class TopicApproved(Payload):
    topic_id: str
    title: str
    format: str
    pillar: str | None = None
    planned_for: datetime | None = None
    channels: list[str] = []
    goal_id: str | None = None
    campaign_id: str | None = None
    assignee: str | None = None


class TopicAssigned(Payload):
    topic_id: str
    assignee: str
    due_at: datetime | None = None
    title: str | None = None
    format: str | None = None
    effort: float = 1.0
    over_capacity: bool = False


class TopicDropped(Payload):
    topic_id: str
    title: str
    previous_status: str
    calendar_entry_id: str | None = None


class CalendarEntryScheduled(Payload):
    entry_id: str
    topic_id: str | None = None
    starts_at: datetime
    channels: list[str] = []
    account_ids: list[str] = []
    ends_at: datetime | None = None
    kind: str = "publication"
    title: str | None = None
    campaign_id: str | None = None
    assignee_ids: list[str] = []


class CampaignChanged(Payload):
    campaign_id: str
    name: str
    starts_at: datetime
    ends_at: datetime
    goal_ids: list[str] = []
    status: str | None = None


EVENTS: dict[str, tuple[type[Payload], str]] = {
    "mediaops.planning.goal.created": (GoalChanged, "A goal was created."),
    "mediaops.planning.goal.updated": (GoalChanged, "A goal's definition or status changed."),
    "mediaops.planning.topic.approved": (TopicApproved, "A topic was approved for production."),
    "mediaops.planning.topic.assigned": (TopicAssigned, "A topic was assigned to a member."),
    "mediaops.planning.topic.dropped": (
        TopicDropped,
        "A topic was dropped; its calendar slot is cancelled.",
    ),
    "mediaops.planning.calendar.entry_scheduled": (
        CalendarEntryScheduled,
        "A calendar entry got a planned time.",
    ),
    "mediaops.planning.campaign.launched": (CampaignChanged, "A campaign went live."),
    "mediaops.planning.campaign.ended": (CampaignChanged, "A campaign ended."),
}
