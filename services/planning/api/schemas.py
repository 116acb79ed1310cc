"""Request models of the planning API. Unknown fields are a 422 naming the field.

Deep rules (SMART goals, formats, currencies, shares, time zones) live in `domain/` and are
checked there, so the error names the field whichever door the data came through.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from shared.http import StrictModel

Str200 = Field(min_length=1, max_length=200)


def _date_if_bare(value: Any) -> Any:
    """'2026-04-01' is a local date; anything longer is an instant (which needs an offset)."""
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


# A local date (whole days in the workspace zone) or an instant with offset.
DateOrInstant = Annotated[datetime | date, BeforeValidator(_date_if_bare)]


def _examples(*examples: dict) -> ConfigDict:
    return ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(examples)}
    )


# --- workspace and team ----------------------------------------------------------------------


class BlackoutIn(StrictModel):
    first_day: date
    last_day: date | None = None
    reason: str = Field("", max_length=300)
    account_ids: list[str] = Field(default_factory=list, max_length=100)


class WorkspaceIn(StrictModel):
    model_config = _examples(
        {
            "name": "Brand HQ",
            "timezone": "Asia/Shanghai",
            "blackout_dates": [{"first_day": "2026-06-04", "reason": "quiet day"}],
        },
        {"rotate_feed_secret": True},
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    blackout_dates: list[BlackoutIn] | None = Field(None, max_length=500)
    rotate_feed_secret: bool = False


class MemberIn(StrictModel):
    model_config = _examples(
        {
            "user_id": "alice",
            "display_name": "Alice",
            "roles": ["planner", "editor"],
            "capacity_per_week": 4,
            "skills": ["copywriting", "video"],
        }
    )
    user_id: str | None = Field(None, min_length=1, max_length=200)
    display_name: str = Str200
    roles: list[str] = Field(default_factory=list, max_length=8)
    capacity_per_week: float = Field(5, ge=0, le=1000)
    skills: list[str] = Field(default_factory=list, max_length=50)


class MemberPatch(StrictModel):
    model_config = _examples({"capacity_per_week": 3, "roles": ["planner"]})
    display_name: str | None = Field(None, min_length=1, max_length=200)
    roles: list[str] | None = Field(None, max_length=8)
    capacity_per_week: float | None = Field(None, ge=0, le=1000)
    skills: list[str] | None = Field(None, max_length=50)


# --- goals -------------------------------------------------------------------------------------


class GoalIn(StrictModel):
    model_config = _examples(
        {
            "name": "Grow WeChat followers",
            "metric": "followers",
            "target": 20000,
            "baseline": 12000,
            "period_start": "2026-04-01",
            "period_end": "2026-06-30",
            "channel": "wechat_mp",
        }
    )
    name: str = Field(max_length=200)
    metric: str = Field(max_length=50)
    target: float
    period_start: DateOrInstant
    period_end: DateOrInstant
    baseline: float | None = None
    channel: str | None = Field(None, max_length=50)
    campaign_id: str | None = None
    owner: str | None = Field(None, max_length=200)


class GoalPatch(StrictModel):
    model_config = _examples({"target": 25000})
    name: str | None = Field(None, max_length=200)
    metric: str | None = Field(None, max_length=50)
    target: float | None = None
    baseline: float | None = None
    period_start: DateOrInstant | None = None
    period_end: DateOrInstant | None = None
    channel: str | None = Field(None, max_length=50)
    campaign_id: str | None = None
    owner: str | None = Field(None, max_length=200)


# --- strategy ----------------------------------------------------------------------------------


class PillarIn(StrictModel):
    model_config = _examples(
        {"name": "product tips", "target_share": 0.4, "description": "How-tos for our users"}
    )
    name: str = Field(min_length=1, max_length=100)
    target_share: float = Field(ge=0, le=1)
    description: str = Field("", max_length=2000)


class PillarPatch(StrictModel):
    model_config = _examples({"target_share": 0.3})
    name: str | None = Field(None, min_length=1, max_length=100)
    target_share: float | None = Field(None, ge=0, le=1)
    description: str | None = Field(None, max_length=2000)


class PersonaIn(StrictModel):
    model_config = _examples(
        {
            "name": "Young professional",
            "description": "25-35, tier-1 cities",
            "interests": ["career", "travel"],
            "active_hours": [8, 12, 21],
            "preferred_channels": ["wechat_mp", "weibo"],
        }
    )
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    interests: list[str] = Field(default_factory=list, max_length=50)
    active_hours: list[int] = Field(default_factory=list, max_length=24)
    preferred_channels: list[str] = Field(default_factory=list, max_length=20)


class PersonaPatch(StrictModel):
    model_config = _examples({"active_hours": [7, 22]})
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    interests: list[str] | None = Field(None, max_length=50)
    active_hours: list[int] | None = Field(None, max_length=24)
    preferred_channels: list[str] | None = Field(None, max_length=20)


class AccountRef(StrictModel):
    channel: str = Field(min_length=1, max_length=50)
    handle: str = Field(min_length=1, max_length=200)
    url: str | None = Field(None, max_length=2000)


class CompetitorIn(StrictModel):
    model_config = _examples(
        {
            "name": "Rival Co",
            "accounts": [{"channel": "weibo", "handle": "rivalco"}],
            "notes": "Posts daily at 20:00; strong on short video",
        }
    )
    name: str = Field(min_length=1, max_length=200)
    accounts: list[AccountRef] = Field(default_factory=list, max_length=50)
    notes: str = Field("", max_length=10000)


class CompetitorPatch(StrictModel):
    model_config = _examples({"notes": "Started a live series"})
    name: str | None = Field(None, min_length=1, max_length=200)
    accounts: list[AccountRef] | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=10000)


class Money(StrictModel):
    amount: Decimal
    currency: str = Field(min_length=3, max_length=3)


class PartnerIn(StrictModel):
    model_config = _examples(
        {
            "name": "Tech reviewer Li",
            "kind": "kol",
            "channels": ["douyin"],
            "audience": 850000,
            "rate": {"amount": "12000", "currency": "CNY"},
            "contact": "agent@example.com",
            "notes": "Prefers hands-on demos",
        }
    )
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["kol", "media", "platform"]
    channels: list[str] = Field(default_factory=list, max_length=20)
    audience: int | None = Field(None, ge=0)
    rate: Money | None = None
    contact: str = Field("", max_length=500)
    notes: str = Field("", max_length=10000)


class PartnerPatch(StrictModel):
    model_config = _examples({"audience": 900000})
    name: str | None = Field(None, min_length=1, max_length=200)
    kind: Literal["kol", "media", "platform"] | None = None
    channels: list[str] | None = Field(None, max_length=20)
    audience: int | None = Field(None, ge=0)
    rate: Money | None = None
    contact: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=10000)


# --- topics ------------------------------------------------------------------------------------


class TopicIn(StrictModel):
    model_config = _examples(
        {
            "title": "5 tips for spring travel",
            "format": "article",
            "pillar": "product tips",
            "planned_for": "2026-04-10T20:00:00+08:00",
            "channels": ["wechat_mp"],
            "priority": 4,
            "tags": ["travel"],
        },
        {
            "title": "React to the launch event",
            "format": "short_video",
            "hot": True,
            "deadline": "2026-04-02T12:00:00+08:00",
        },
    )
    title: str = Field(max_length=300)
    format: str = Field(max_length=30)
    pillar: str | None = Field(None, max_length=100)
    goal_id: str | None = None
    campaign_id: str | None = None
    planned_for: datetime | None = None
    channels: list[str] = Field(default_factory=list, max_length=20)
    account_ids: list[str] = Field(default_factory=list, max_length=20)
    hot: bool = False
    deadline: datetime | None = None
    priority: int = 3
    tags: list[str] = Field(default_factory=list, max_length=20)
    effort: float = Field(1.0, gt=0, le=100)


class TopicPatch(StrictModel):
    model_config = _examples({"priority": 5, "planned_for": "2026-04-11T20:00:00+08:00"})
    title: str | None = Field(None, max_length=300)
    format: str | None = Field(None, max_length=30)
    pillar: str | None = Field(None, max_length=100)
    goal_id: str | None = None
    campaign_id: str | None = None
    planned_for: datetime | None = None
    channels: list[str] | None = Field(None, max_length=20)
    account_ids: list[str] | None = Field(None, max_length=20)
    hot: bool | None = None
    deadline: datetime | None = None
    priority: int | None = None
    tags: list[str] | None = Field(None, max_length=20)
    effort: float | None = Field(None, gt=0, le=100)


class VoteIn(StrictModel):
    model_config = _examples({"value": 1})
    value: Literal[1, -1]


class CommentIn(StrictModel):
    model_config = _examples({"body": "Could pair with the May campaign"})
    body: str = Field(min_length=1, max_length=5000)


class AssignIn(StrictModel):
    model_config = _examples(
        {"member_id": "alice", "due_at": "2026-04-08T18:00:00+08:00"},
        {"member_id": "bob", "due_at": "2026-04-08T18:00:00+08:00", "force": True},
    )
    member_id: str = Field(min_length=1, max_length=200)
    due_at: datetime
    effort: float | None = Field(None, gt=0, le=100)
    force: bool = False


# --- calendar ----------------------------------------------------------------------------------

EntryKindIn = Literal["publication", "milestone", "key_date", "blackout"]


class EntryIn(StrictModel):
    model_config = _examples(
        {
            "kind": "publication",
            "title": "Spring travel tips",
            "starts_at": "2026-04-10T20:00:00+08:00",
            "channels": ["wechat_mp"],
            "account_ids": ["acc-wechat-main"],
        },
        {"kind": "key_date", "title": "Labour Day", "day": "2026-05-01", "category": "holiday"},
        {"kind": "blackout", "title": "Quiet period", "day": "2026-06-04"},
    )
    kind: EntryKindIn
    title: str = Field(min_length=1, max_length=300)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    day: date | None = None
    last_day: date | None = None
    channels: list[str] = Field(default_factory=list, max_length=20)
    account_ids: list[str] = Field(default_factory=list, max_length=20)
    assignee_ids: list[str] = Field(default_factory=list, max_length=20)
    effort: float = Field(1.0, ge=0, le=100)
    topic_id: str | None = None
    campaign_id: str | None = None
    category: str | None = Field(None, max_length=50)
    description: str = Field("", max_length=5000)


class EntryPatch(StrictModel):
    model_config = _examples({"starts_at": "2026-04-10T21:00:00+08:00"})
    title: str | None = Field(None, min_length=1, max_length=300)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    day: date | None = None
    last_day: date | None = None
    channels: list[str] | None = Field(None, max_length=20)
    account_ids: list[str] | None = Field(None, max_length=20)
    assignee_ids: list[str] | None = Field(None, max_length=20)
    effort: float | None = Field(None, ge=0, le=100)
    category: str | None = Field(None, max_length=50)
    description: str | None = Field(None, max_length=5000)


# --- campaigns ---------------------------------------------------------------------------------


class ResourceIn(StrictModel):
    kind: str = Field(max_length=20)
    name: str = Field(max_length=200)
    cost: Decimal = Decimal(0)
    partner_id: str | None = None
    notes: str = Field("", max_length=2000)


class MilestoneIn(StrictModel):
    id: str | None = Field(None, max_length=64)
    title: str = Field(min_length=1, max_length=300)
    due_at: datetime
    done: bool = False


class RiskIn(StrictModel):
    risk: str = Field(max_length=500)
    likelihood: int
    impact: int
    mitigation: str = Field("", max_length=2000)
    owner: str | None = Field(None, max_length=200)


class CampaignIn(StrictModel):
    model_config = _examples(
        {
            "name": "618 mid-year sale",
            "starts_at": "2026-06-01T00:00:00+08:00",
            "ends_at": "2026-06-18T23:59:00+08:00",
            "budget": {"amount": "50000", "currency": "CNY"},
            "theme": "Summer upgrade",
            "mechanics": "Share-to-unlock coupons",
            "resources": [{"kind": "kol", "name": "Tech reviewer Li", "cost": "12000"}],
            "milestones": [{"title": "Teaser", "due_at": "2026-05-28T20:00:00+08:00"}],
            "risks": [
                {
                    "risk": "Coupon abuse",
                    "likelihood": 3,
                    "impact": 4,
                    "mitigation": "One per account",
                    "owner": "alice",
                }
            ],
        }
    )
    name: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    ends_at: datetime
    budget: Money | None = None
    goal_ids: list[str] = Field(default_factory=list, max_length=50)
    theme: str = Field("", max_length=2000)
    mechanics: str = Field("", max_length=5000)
    resources: list[ResourceIn] = Field(default_factory=list, max_length=100)
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=100)
    risks: list[RiskIn] = Field(default_factory=list, max_length=100)


class CampaignPatch(StrictModel):
    model_config = _examples({"theme": "Summer upgrade, round two"})
    name: str | None = Field(None, min_length=1, max_length=200)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    budget: Money | None = None
    goal_ids: list[str] | None = Field(None, max_length=50)
    theme: str | None = Field(None, max_length=2000)
    mechanics: str | None = Field(None, max_length=5000)
    resources: list[ResourceIn] | None = Field(None, max_length=100)
    milestones: list[MilestoneIn] | None = Field(None, max_length=100)
    risks: list[RiskIn] | None = Field(None, max_length=100)
