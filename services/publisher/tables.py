"""SQLAlchemy tables of the publisher service, all in its own `publisher` schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import IdMixin, TimestampMixin, VersionMixin, WorkspaceMixin, make_base

Base = make_base("publisher")
metadata = Base.metadata


class Account(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    """A channel account. Credentials are a Fernet token (never plain text in the table)."""

    __tablename__ = "accounts"

    channel: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    credentials_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    credential_keys: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    stats_captured_on: Mapped[str | None] = mapped_column(String(10))  # local YYYY-MM-DD


class ApprovedSnapshot(IdMixin, TimestampMixin, WorkspaceMixin, Base):  # type: ignore[misc, valid-type]
    """What content approved, verbatim, per (item, content hash): the only thing we post."""

    __tablename__ = "approved_snapshots"
    __table_args__ = (UniqueConstraint("workspace_id", "item_id", "content_hash"),)

    item_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False, default="")
    format: Mapped[str | None] = mapped_column(String(40))
    pillar: Mapped[str | None] = mapped_column(String(100))
    topic_id: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    planned_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    account_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Publication(IdMixin, TimestampMixin, WorkspaceMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "publications"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id",
            "item_id",
            "variant_key",
            "account_id",
            "occurrence",
            name="uq_publications_target",
        ),
        # The scheduler's claim scan: due scheduled rows only.
        Index(
            "ix_publications_due",
            "due_at",
            postgresql_where=text("status = 'scheduled' AND NOT waiting_reauth"),
        ),
        Index(
            "ix_publications_claimed", "claimed_at", postgresql_where=text("status = 'dispatching'")
        ),
        Index("ix_publications_unknown", "due_at", postgresql_where=text("status = 'unknown'")),
        Index(
            "ix_publications_stats",
            "next_stats_at",
            postgresql_where=text("status = 'published' AND next_stats_at IS NOT NULL"),
        ),
    )

    item_id: Mapped[str] = mapped_column(String(64), nullable=False)
    variant_id: Mapped[str | None] = mapped_column(String(64))
    variant_key: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id"), nullable=False, index=True
    )
    channel: Mapped[str] = mapped_column(String(40), nullable=False)
    snapshot_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("approved_snapshots.id"), nullable=False
    )
    content_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    occurrence: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    series_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    mode: Mapped[str] = mapped_column(String(20), nullable=False, default="at")
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    scheduled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="scheduled")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    waiting_reauth: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    external_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    quota_warning: Mapped[str | None] = mapped_column(Text)
    stats_done: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    next_stats_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(200))


class Attempt(IdMixin, Base):  # type: ignore[misc, valid-type]
    """One try at posting (or reconciling) a publication: who, when, how long, what came back."""

    __tablename__ = "attempts"

    publication_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("publications.id"), nullable=False, index=True
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="publish")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker_id: Mapped[str] = mapped_column(String(200), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="started")
    latency_ms: Mapped[float | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


class FeedEntryRow(Base):  # type: ignore[misc, valid-type]
    """Entries of an owned RSS/Atom account, keyed by the post's idempotency key."""

    __tablename__ = "feed_entries"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    link: Mapped[str | None] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class BestHours(Base):  # type: ignore[misc, valid-type]
    """The latest `best_hours` insight per scope (an account, else a channel)."""

    __tablename__ = "best_hours"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    slots: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


# Webhook tables live in their own module but in this schema and metadata.
from services.publisher.webhooks import tables as _webhook_tables  # noqa: E402

_ = _webhook_tables
