"""SQLAlchemy tables of the planning service, all in its own `planning` schema.

Every row carries `workspace_id`; every query filters by it. Instants are UTC
(`timestamptz`); local days (key dates, blackouts) are plain dates in the workspace zone.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import IdMixin, TimestampMixin, VersionMixin, WorkspaceMixin, make_base

Base = make_base("planning")
metadata = Base.metadata


class Workspace(TimestampMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    """Settings of a workspace; created with defaults on first use."""

    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    # [{first_day, last_day, reason, account_ids}] local dates in the workspace zone
    blackout_dates: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, default=list
    )
    feed_secret: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    feed_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Member(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)
    user_id: Mapped[str] = mapped_column(String(200), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    capacity_per_week: Mapped[float] = mapped_column(Float, nullable=False, default=5.0)
    skills: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)


class Goal(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "goals"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    metric: Mapped[str] = mapped_column(String(50), nullable=False)
    target: Mapped[float] = mapped_column(Float, nullable=False)
    baseline: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(50))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    owner: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    # Progress read model, fed by mediaops.metrics.goal.progressed.
    progress_current: Mapped[float | None] = mapped_column(Float)
    progress_ratio: Mapped[float | None] = mapped_column(Float)
    progress_on_track: Mapped[bool | None] = mapped_column(Boolean)
    progress_measured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Pillar(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "pillars"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    target_share: Mapped[float] = mapped_column(Float, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Persona(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "personas"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    interests: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    active_hours: Mapped[list[int]] = mapped_column(JSONB, nullable=False, default=list)
    preferred_channels: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)


class Competitor(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "competitors"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # [{channel, handle, url}]
    accounts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Partner(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "partners"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # kol, media, platform
    channels: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    audience: Mapped[int | None] = mapped_column(Integer)
    rate_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    rate_currency: Mapped[str | None] = mapped_column(String(3))
    contact: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Topic(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "topics"
    __table_args__ = (
        Index("ix_topics_workspace_id_status", "workspace_id", "status"),
        Index("ix_topics_workspace_id_assignee", "workspace_id", "assignee"),
    )
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    format: Mapped[str] = mapped_column(String(30), nullable=False)
    pillar: Mapped[str | None] = mapped_column(String(100))
    goal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    planned_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channels: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    account_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    is_hot: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    hot_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    priority: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=3)
    tags: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="idea")
    proposed_by: Mapped[str] = mapped_column(String(200), nullable=False)
    assignee: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    effort: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(200))
    content_item_id: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    publication_url: Mapped[str | None] = mapped_column(String(2000))


class TopicVote(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "topic_votes"
    topic_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    voted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class TopicComment(IdMixin, TimestampMixin, WorkspaceMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "topic_comments"
    topic_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("topics.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)


class CalendarEntry(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    """A timed slot (starts_at..ends_at, UTC) or all-day local dates (day..last_day)."""

    __tablename__ = "calendar_entries"
    __table_args__ = (
        Index("ix_calendar_entries_workspace_id_starts_at", "workspace_id", "starts_at"),
        Index("ix_calendar_entries_workspace_id_day", "workspace_id", "day"),
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    day: Mapped[date | None] = mapped_column(Date)
    last_day: Mapped[date | None] = mapped_column(Date)
    channels: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    account_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    assignee_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    effort: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    topic_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    category: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="scheduled")
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Campaign(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "campaigns"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    theme: Mapped[str] = mapped_column(Text, nullable=False, default="")
    mechanics: Mapped[str] = mapped_column(Text, nullable=False, default="")
    budget_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    budget_currency: Mapped[str | None] = mapped_column(String(3))
    goal_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    resources: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    milestones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    risks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    owner: Mapped[str | None] = mapped_column(String(200))


class Insight(TimestampMixin, WorkspaceMixin, Base):  # type: ignore[misc, valid-type]
    """The newest insight per (workspace, kind, scope), from mediaops.metrics.insight.generated."""

    __tablename__ = "insights"
    __table_args__ = (UniqueConstraint("workspace_id", "scope_key"),)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    insight_id: Mapped[str] = mapped_column(String(100), nullable=False)
    scope_key: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    recommendation: Mapped[str] = mapped_column(Text, nullable=False, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    confidence: Mapped[str | None] = mapped_column(String(20))
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
