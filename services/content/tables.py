"""SQLAlchemy tables of the content service, all in its own `content` schema.

Every row carries `workspace_id`; every query filters by it. An item's content lives in
`items` (the current state) and in `item_versions` (each saved state, immutable, with its
content hash). `review_records` is the audit trail the review state is recomputed from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import IdMixin, TimestampMixin, VersionMixin, WorkspaceMixin, make_base

Base = make_base("content")
metadata = Base.metadata


class Item(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    """`version` is both the ETag and the number of the item's latest version."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_workspace_id_created_at", "workspace_id", "created_at", "id"),
        Index(
            "uq_items_workspace_id_origin_topic",
            "workspace_id",
            "topic_id",
            unique=True,
            postgresql_where=text("from_topic"),
        ),
        Index(
            "ix_items_stage_due_at",
            "stage_due_at",
            postgresql_where=text("status = 'in_review'"),
        ),
    )
    owner: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    format: Mapped[str] = mapped_column(String(32), nullable=False)
    summary: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    script: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    tags: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    link: Mapped[str | None] = mapped_column(Text)
    cover_asset_id: Mapped[str | None] = mapped_column(String(36))
    title_alternatives: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    topic_id: Mapped[str | None] = mapped_column(String(64))
    from_topic: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    important: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    pillar: Mapped[str | None] = mapped_column(String(100))
    planned_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    account_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="draft")
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    approved_hash: Mapped[str | None] = mapped_column(String(64))
    approved_version: Mapped[int | None] = mapped_column(Integer)
    # review round: incremented at each submit; the records of the round decide the state
    review_round: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    review_stage: Mapped[str | None] = mapped_column(String(64))
    stage_entered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stage_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    publications: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)


class ItemVersion(Base):  # type: ignore[misc, valid-type]
    """One saved state of an item: immutable once written."""

    __tablename__ = "item_versions"
    __table_args__ = (PrimaryKeyConstraint("item_id", "number"),)
    item_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("content.items.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    change: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Task(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "tasks"
    item_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("content.items.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    assignee: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="todo")
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    notes: Mapped[str | None] = mapped_column(Text)


class Variant(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("item_id", "channel"),)
    item_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("content.items.id", ondelete="CASCADE"), nullable=False
    )
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    hashtags: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    link: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)


class Asset(IdMixin, WorkspaceMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("workspace_id", "sha256"),)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    mime: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(Text)
    storage_key: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ReviewRecord(Base):  # type: ignore[misc, valid-type]
    """The audit trail: submits, compliance checks, decisions, overrides, edits. Append-only."""

    __tablename__ = "review_records"
    __table_args__ = (Index("ix_review_records_item_id_seq", "item_id", "seq"),)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, unique=True, default=uuid.uuid4
    )
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    item_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("content.items.id", ondelete="CASCADE"), nullable=False
    )
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    actor_roles: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    stage: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    anchor: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    status_after: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class OverdueNotice(Base):  # type: ignore[misc, valid-type]
    """One `review.overdue` per stage entry: (item, round, stage, entered_at)."""

    __tablename__ = "overdue_notices"
    __table_args__ = (PrimaryKeyConstraint("item_id", "round", "stage", "entered_at"),)
    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    stage: Mapped[str] = mapped_column(String(64), nullable=False)
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    workspace_id: Mapped[str] = mapped_column(String(64), nullable=False)
    notified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class WorkspaceSettings(TimestampMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    """Created with defaults on first use. `lists_version` keys the cached matcher."""

    __tablename__ = "settings"
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    require_tasks_done_before_submit: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    workflow: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # [{correct, wrong_spellings: [...]}]
    brand_terms: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    allow_phrases: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list)
    lists_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SensitiveList(IdMixin, TimestampMixin, WorkspaceMixin, VersionMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "sensitive_lists"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # [{term, category, severity}]
    terms: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
