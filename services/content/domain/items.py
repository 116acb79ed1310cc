"""Content items: formats, the production tasks each format needs, and what a version is.

A version is the content a reviewer approves: the fields below (master text, script, media,
title alternatives) plus every channel variant's text. Scheduling facts (planned time,
accounts, pillar, topic) are not content: changing them does not invalidate an approval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from services.content.domain.versions import content_hash


class ItemFormat(StrEnum):
    """The same vocabulary as planning's topic formats."""

    ARTICLE = "article"  # 图文
    SHORT_VIDEO = "short_video"
    LONG_VIDEO = "long_video"
    LIVE = "live"
    H5 = "h5"
    IMAGE = "image"
    CAROUSEL = "carousel"
    GIF = "gif"
    POSTER = "poster"
    THREAD = "thread"
    NEWSLETTER = "newsletter"
    PODCAST = "podcast"


FORMATS: tuple[str, ...] = tuple(f.value for f in ItemFormat)
VIDEO_FORMATS = frozenset({ItemFormat.SHORT_VIDEO, ItemFormat.LONG_VIDEO, ItemFormat.LIVE})


class TaskRole(StrEnum):
    BRIEF = "brief"
    COPY = "copy"
    DESIGN = "design"
    VIDEO_SCRIPT = "video_script"
    SHOOT = "shoot"
    EDIT = "edit"
    LAYOUT = "layout"


class TaskStatus(StrEnum):
    TODO = "todo"
    DOING = "doing"
    DONE = "done"


TASK_ROLES: tuple[str, ...] = tuple(r.value for r in TaskRole)

_R = TaskRole
TASKS_BY_FORMAT: dict[ItemFormat, tuple[TaskRole, ...]] = {
    ItemFormat.ARTICLE: (_R.BRIEF, _R.COPY, _R.DESIGN, _R.LAYOUT),
    ItemFormat.SHORT_VIDEO: (_R.BRIEF, _R.VIDEO_SCRIPT, _R.SHOOT, _R.EDIT),
    ItemFormat.LONG_VIDEO: (_R.BRIEF, _R.VIDEO_SCRIPT, _R.SHOOT, _R.EDIT),
    ItemFormat.LIVE: (_R.BRIEF, _R.VIDEO_SCRIPT, _R.DESIGN),
    ItemFormat.H5: (_R.BRIEF, _R.COPY, _R.DESIGN, _R.LAYOUT),
    ItemFormat.IMAGE: (_R.BRIEF, _R.DESIGN),
    ItemFormat.CAROUSEL: (_R.BRIEF, _R.COPY, _R.DESIGN),
    ItemFormat.GIF: (_R.BRIEF, _R.DESIGN),
    ItemFormat.POSTER: (_R.BRIEF, _R.COPY, _R.DESIGN),
    ItemFormat.THREAD: (_R.BRIEF, _R.COPY),
    ItemFormat.NEWSLETTER: (_R.BRIEF, _R.COPY, _R.LAYOUT),
    ItemFormat.PODCAST: (_R.BRIEF, _R.VIDEO_SCRIPT, _R.EDIT),
}

TASK_TITLES: dict[TaskRole, str] = {
    _R.BRIEF: "Brief: angle, audience, key message",
    _R.COPY: "Copy: write the text",
    _R.DESIGN: "Design: cover, illustrations, posters",
    _R.VIDEO_SCRIPT: "Script: scenes and shots",
    _R.SHOOT: "Shoot",
    _R.EDIT: "Edit and effects",
    _R.LAYOUT: "Layout",
}


def tasks_for_format(fmt: str) -> list[tuple[str, str]]:
    """(role, title) of the production tasks an item of this format starts with."""
    roles = TASKS_BY_FORMAT.get(ItemFormat(fmt), (_R.BRIEF, _R.COPY))
    return [(r.value, TASK_TITLES[r]) for r in roles]


def open_required(tasks: Iterable[Any]) -> list[Any]:
    """Tasks (anything with `required` and `status`) that block a submit: required, not done."""
    return [t for t in tasks if t.required and t.status != TaskStatus.DONE]


# -- versions --------------------------------------------------------------------------------

CONTENT_FIELDS = (
    "title",
    "format",
    "summary",
    "body",
    "script",
    "tags",
    "media",
    "link",
    "cover_asset_id",
    "title_alternatives",
)
VARIANT_FIELDS = ("channel", "title", "body", "hashtags", "media", "link")


def variant_content(variant: Mapping[str, Any]) -> dict[str, Any]:
    return {k: variant.get(k) for k in VARIANT_FIELDS}


def version_fields(item: Mapping[str, Any], variants: Iterable[Mapping[str, Any]]) -> dict:
    """The snapshot stored with a version and hashed for approvals (JSON values only)."""
    fields = {k: item.get(k) for k in CONTENT_FIELDS}
    ordered = sorted((variant_content(v) for v in variants), key=lambda v: v["channel"])
    fields["variants"] = ordered
    return fields


def hash_version(fields: Mapping[str, Any]) -> str:
    return content_hash(fields)


def flatten_for_diff(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Per-field values for `diff_versions`: each variant's text becomes its own field
    (`variant:weibo.body`), so a diff says which channel's text changed."""
    flat = {k: v for k, v in fields.items() if k != "variants"}
    for variant in fields.get("variants") or []:
        channel = variant.get("channel")
        for key in VARIANT_FIELDS[1:]:
            value = variant.get(key)
            if value not in (None, "", []):
                flat[f"variant:{channel}.{key}"] = value
    return flat


def compliance_fields(
    item: Mapping[str, Any], variants: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """The texts the compliance scan reads, named as findings report them."""
    fields: dict[str, str] = {}
    for key in ("title", "summary", "body"):
        if item.get(key):
            fields[key] = item[key]
    for i, alt in enumerate(item.get("title_alternatives") or []):
        fields[f"title_alternatives[{i}]"] = alt
    script = item.get("script") or {}
    for si, scene in enumerate(script.get("scenes") or []):
        for key in ("title", "description", "voiceover"):
            if scene.get(key):
                fields[f"script.scenes[{si}].{key}"] = scene[key]
        for hi, shot in enumerate(scene.get("shots") or []):
            for key in ("description", "voiceover", "caption"):
                if shot.get(key):
                    fields[f"script.scenes[{si}].shots[{hi}].{key}"] = shot[key]
    tags = item.get("tags") or []
    if tags:
        fields["tags"] = " ".join(tags)
    for v in variants:
        ch = v.get("channel")
        if v.get("title"):
            fields[f"variant:{ch}.title"] = v["title"]
        if v.get("body"):
            fields[f"variant:{ch}.body"] = v["body"]
        if v.get("hashtags"):
            fields[f"variant:{ch}.hashtags"] = " ".join(v["hashtags"])
    return fields
