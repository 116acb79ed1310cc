"""Request models of the content API (responses are plain JSON built in the routers)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from services.content.domain.items import FORMATS, TASK_ROLES
from shared.http import StrictModel


def _strict(example: dict) -> ConfigDict:
    return ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [example]}
    )


class Shot(StrictModel):
    description: str = Field(min_length=1, max_length=5000)
    duration_s: float | None = Field(None, ge=0, le=36000)
    camera: str | None = Field(None, max_length=500)
    voiceover: str | None = Field(None, max_length=5000)
    caption: str | None = Field(None, max_length=2000)
    asset_id: uuid.UUID | None = None


class Scene(StrictModel):
    title: str | None = Field(None, max_length=500)
    description: str | None = Field(None, max_length=5000)
    voiceover: str | None = Field(None, max_length=5000)
    shots: list[Shot] = Field(default_factory=list, max_length=200)


class Script(StrictModel):
    """A video script: scenes, each with its shots."""

    scenes: list[Scene] = Field(default_factory=list, max_length=200)


Format = Literal[tuple(FORMATS)]  # type: ignore[valid-type]


def _tags(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        v = v.strip().strip("#").strip()
        if not v:
            raise ValueError("tags must not be empty")
        if len(v) > 100:
            raise ValueError("a tag is at most 100 characters")
        if v not in out:
            out.append(v)
    return out


class ItemIn(StrictModel):
    model_config = _strict(
        {
            "title": "春季新品上市：三分钟看懂",
            "format": "article",
            "body": "<p>今年春季，我们带来了三款新品。</p>",
            "summary": "三款新品一次看完",
            "tags": ["新品", "春季"],
            "important": False,
            "title_alternatives": ["三款春季新品，一次看懂"],
        }
    )
    title: str = Field(min_length=1, max_length=500)
    format: Format
    body: str = Field("", max_length=200_000)
    summary: str | None = Field(None, max_length=2000)
    topic_id: str | None = Field(None, max_length=64)
    campaign_id: str | None = Field(None, max_length=64)
    important: bool = False
    tags: list[str] = Field(default_factory=list, max_length=50)
    script: Script | None = None
    cover_asset_id: uuid.UUID | None = None
    asset_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    link: str | None = Field(None, max_length=2000)
    planned_for: AwareDatetime | None = None
    account_ids: list[str] = Field(default_factory=list, max_length=50)
    pillar: str | None = Field(None, max_length=100)
    title_alternatives: list[str] = Field(default_factory=list, max_length=10)

    _t = field_validator("tags")(_tags)


class ItemPatch(StrictModel):
    model_config = _strict({"title": "春季新品：三分钟看懂", "important": True})
    title: str | None = Field(None, min_length=1, max_length=500)
    format: Format | None = None
    body: str | None = Field(None, max_length=200_000)
    summary: str | None = Field(None, max_length=2000)
    topic_id: str | None = Field(None, max_length=64)
    campaign_id: str | None = Field(None, max_length=64)
    important: bool | None = None
    tags: list[str] | None = Field(None, max_length=50)
    script: Script | None = None
    cover_asset_id: uuid.UUID | None = None
    asset_ids: list[uuid.UUID] | None = Field(None, max_length=50)
    link: str | None = Field(None, max_length=2000)
    planned_for: AwareDatetime | None = None
    account_ids: list[str] | None = Field(None, max_length=50)
    pillar: str | None = Field(None, max_length=100)
    title_alternatives: list[str] | None = Field(None, max_length=10)

    _t = field_validator("tags")(_tags)


class TaskIn(StrictModel):
    model_config = _strict(
        {
            "role": "design",
            "title": "Cover 900x383",
            "assignee": "dana",
            "due_at": "2026-03-02T10:00:00+08:00",
        }
    )
    role: Literal[tuple(TASK_ROLES)]  # type: ignore[valid-type]
    title: str | None = Field(None, min_length=1, max_length=500)
    assignee: str | None = Field(None, max_length=200)
    due_at: AwareDatetime | None = None
    status: Literal["todo", "doing", "done"] = "todo"
    required: bool = True
    notes: str | None = Field(None, max_length=5000)


class TaskPatch(StrictModel):
    model_config = _strict({"status": "done"})
    title: str | None = Field(None, min_length=1, max_length=500)
    assignee: str | None = Field(None, max_length=200)
    due_at: AwareDatetime | None = None
    status: Literal["todo", "doing", "done"] | None = None
    required: bool | None = None
    notes: str | None = Field(None, max_length=5000)


class MediaRef(StrictModel):
    """An uploaded asset (`asset_id`), or a described media item (`kind` and its facts)."""

    asset_id: uuid.UUID | None = None
    kind: Literal["image", "video", "gif"] | None = None
    role: Literal["cover"] | None = None
    size_bytes: int | None = Field(None, ge=0)
    width: int | None = Field(None, ge=0)
    height: int | None = Field(None, ge=0)
    duration_s: float | None = Field(None, ge=0)
    url: str | None = Field(None, max_length=2000)


class VariantIn(StrictModel):
    model_config = _strict({"channel": "weibo", "body": "春季新品上市，三分钟看懂 #新品#"})
    channel: str = Field(min_length=1, max_length=32)
    title: str | None = Field(None, max_length=2000)
    body: str | None = Field(None, max_length=200_000)
    media: list[MediaRef] | None = Field(None, max_length=50)
    hashtags: list[str] | None = Field(None, max_length=100)
    link: str | None = Field(None, max_length=2000)


class VariantPatch(StrictModel):
    model_config = _strict({"body": "改写后的微博正文 #新品#"})
    title: str | None = Field(None, max_length=2000)
    body: str | None = Field(None, max_length=200_000)
    media: list[MediaRef] | None = Field(None, max_length=50)
    hashtags: list[str] | None = Field(None, max_length=100)
    link: str | None = Field(None, max_length=2000)


class Anchor(StrictModel):
    field: str = Field(min_length=1, max_length=200)
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class ReviewIn(StrictModel):
    model_config = _strict(
        {
            "decision": "request_changes",
            "comment": "“最佳”是广告法禁用词，请改写",
            "anchor": {"field": "body", "start": 3, "end": 5},
        }
    )
    decision: Literal["approve", "request_changes", "reject"]
    comment: str | None = Field(None, max_length=5000)
    anchor: Anchor | None = None
    stage: str | None = Field(None, max_length=64, description="defaults to the current stage")
    content_hash: str | None = Field(
        None, min_length=64, max_length=64, description="the hash reviewed; stale -> 409"
    )


class OverrideIn(StrictModel):
    model_config = _strict({"reason": "“第一”指活动报名顺序，非广告用语；法务已确认"})
    reason: str = Field(min_length=3, max_length=2000)
    content_hash: str | None = Field(None, min_length=64, max_length=64)


class ComplianceCheckIn(StrictModel):
    model_config = _strict({"text": "全网最低价，最佳选择！", "channel": "weibo"})
    text: str = Field(max_length=1_000_000)
    channel: str | None = Field(None, max_length=32)


class TermIn(StrictModel):
    term: str = Field(min_length=1, max_length=200)
    category: str = Field("workspace", min_length=1, max_length=64)
    severity: Literal["warn", "block"] = "block"
    suggestion: str | None = Field(None, max_length=200)


class ListIn(StrictModel):
    model_config = _strict(
        {
            "name": "competitors",
            "terms": [{"term": "某竞品", "category": "competitor", "severity": "warn"}],
        }
    )
    name: str = Field(min_length=1, max_length=100)
    terms: list[TermIn] = Field(default_factory=list, max_length=100_000)
    enabled: bool = True


class ListPatch(StrictModel):
    model_config = _strict({"terms": [{"term": "某竞品", "severity": "block"}]})
    name: str | None = Field(None, min_length=1, max_length=100)
    terms: list[TermIn] | None = Field(None, max_length=100_000)
    enabled: bool | None = None


class BrandTermIn(StrictModel):
    correct: str = Field(min_length=1, max_length=200)
    wrong_spellings: list[str] = Field(default_factory=list, max_length=100)


class StageIn(StrictModel):
    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    name: str | None = Field(None, max_length=200)
    kind: Literal["compliance", "human"] = "human"
    required_roles: list[str] = Field(default_factory=list, max_length=8)
    mode: Literal["any", "all", "n"] = "any"
    n: int = Field(1, ge=1, le=50)
    sla_hours: float = Field(24, gt=0, le=24 * 90)
    applies_to: Literal["always", "important", "campaign", "important_or_campaign"] = "always"
    reviewers: list[str] = Field(default_factory=list, max_length=50)


class WorkflowIn(StrictModel):
    model_config = _strict(
        {
            "stages": [
                {"key": "compliance", "kind": "compliance", "sla_hours": 1},
                {"key": "review", "required_roles": ["reviewer", "manager"], "sla_hours": 24},
                {
                    "key": "legal",
                    "required_roles": ["reviewer"],
                    "mode": "n",
                    "n": 2,
                    "sla_hours": 48,
                },
                {
                    "key": "manager",
                    "required_roles": ["manager"],
                    "applies_to": "important_or_campaign",
                    "sla_hours": 24,
                },
            ]
        }
    )
    stages: list[StageIn] = Field(min_length=1, max_length=20)


class SettingsIn(StrictModel):
    model_config = _strict(
        {
            "require_tasks_done_before_submit": True,
            "brand_terms": [{"correct": "WeChat", "wrong_spellings": ["Wechat"]}],
            "allow_phrases": ["第一时间"],
        }
    )
    require_tasks_done_before_submit: bool | None = None
    workflow: WorkflowIn | None = None
    brand_terms: list[BrandTermIn] | None = Field(None, max_length=1000)
    allow_phrases: list[str] | None = Field(None, max_length=10_000)
    sensitive_lists: list[ListIn] | None = Field(
        None, max_length=100, description="replaces the workspace's lists by name"
    )
