"""Check a channel variant against that channel's rules, reporting every problem found.

The variant is what a connector will send: `body` is the final text (for inline-hashtag
platforms the hashtags are already written into it; `hashtags` is the list of tag names), `link`
is the separate link field, `media` a list of dicts with `kind` ('image' | 'video' | 'gif') and
optional `size_bytes`, `width`, `height`, `duration_s`, `role` ('cover').
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from shared.platforms.counting import CountUnit, contains_url, find_urls, measure, utf8_bytes
from shared.platforms.rules import (
    ChannelRules,
    HashtagStyle,
    LinkPlacement,
    MediaKind,
    get_rules,
)

# Weibo topic syntax "#话题#". Not after a letter/digit ("C#/F#"), "&" (entities) or "/" (URLs).
WEIBO_TOPIC_RE = re.compile(r"(?<![A-Za-z0-9&/])#([^#\n]{1,64}?)#")
# Inline "#tag": word characters with at least one non-digit ("#1" is not a tag).
INLINE_HASHTAG_RE = re.compile(r"(?<![A-Za-z0-9&/#])#(\w*[^\W\d]\w*)")


class ProblemCode(StrEnum):
    TITLE_REQUIRED = "title_required"
    TITLE_NOT_SUPPORTED = "title_not_supported"
    TITLE_TOO_LONG = "title_too_long"
    TITLE_TOO_LONG_BYTES = "title_too_long_bytes"
    TITLE_FORBIDDEN_CHARS = "title_forbidden_chars"
    BODY_REQUIRED = "body_required"
    BODY_TOO_LONG = "body_too_long"
    BODY_TOO_LONG_BYTES = "body_too_long_bytes"
    BODY_URL_REQUIRED = "body_url_required"
    EMPTY_POST = "empty_post"
    TOPIC_SYNTAX_FORBIDDEN = "topic_syntax_forbidden"
    HASHTAGS_NOT_SUPPORTED = "hashtags_not_supported"
    HASHTAGS_TOO_MANY = "hashtags_too_many"
    HASHTAGS_TOO_LONG = "hashtags_too_long"
    HASHTAG_INVALID = "hashtag_invalid"
    MEDIA_KIND_UNKNOWN = "media_kind_unknown"
    MEDIA_REQUIRED = "media_required"
    VIDEO_REQUIRED = "video_required"
    COVER_REQUIRED = "cover_required"
    TOO_MANY_IMAGES = "too_many_images"
    TOO_MANY_VIDEOS = "too_many_videos"
    TOO_MANY_GIFS = "too_many_gifs"
    TOO_MANY_MEDIA = "too_many_media"
    MEDIA_MIX_FORBIDDEN = "media_mix_forbidden"
    MEDIA_TOO_LARGE = "media_too_large"
    VIDEO_TOO_SHORT = "video_too_short"
    VIDEO_TOO_LONG = "video_too_long"
    VIDEO_DIMENSIONS_TOO_LARGE = "video_dimensions_too_large"
    LINK_NOT_SUPPORTED = "link_not_supported"
    LINK_NOT_IN_BODY = "link_not_in_body"
    LINK_INVALID = "link_invalid"
    LINK_TOO_LONG = "link_too_long"


@dataclass(frozen=True)
class Problem:
    field: str  # "title", "body", "hashtags", "media", "media[2]", "link"
    code: ProblemCode
    message: str
    limit: int | float | None = None
    actual: int | float | None = None
    unit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["code"] = self.code.value
        return data


def effective_kind(rules: ChannelRules, kind: str) -> MediaKind | None:
    """The kind a media item counts as on this channel (a GIF may count as image or video)."""
    try:
        parsed = MediaKind(kind)
    except ValueError:
        return None
    return rules.gif_counts_as if parsed is MediaKind.GIF else parsed


def normalize_hashtag(tag: str) -> str:
    """A tag name without its '#' markers and surrounding whitespace."""
    return tag.strip().strip("#").strip()


def hashtags_in_text(text: str, style: HashtagStyle | None) -> list[str]:
    if style is HashtagStyle.WEIBO:
        return [m.group(1).strip() for m in WEIBO_TOPIC_RE.finditer(text)]
    if style is HashtagStyle.INLINE:
        return [m.group(1) for m in INLINE_HASHTAG_RE.finditer(text)]
    return []


def _unique_casefold(tags: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values())


def youtube_tags_length(tags: Sequence[str]) -> int:
    """YouTube's tag budget: comma-separated, a tag with a space is quoted (+2)."""
    lengths = [len(tag) + (2 if " " in tag else 0) for tag in tags]
    return sum(lengths) + max(0, len(lengths) - 1)


def _check_title(rules: ChannelRules, title: str) -> list[Problem]:
    problems: list[Problem] = []
    if not title.strip():
        if rules.title_required:
            problems.append(
                Problem("title", ProblemCode.TITLE_REQUIRED, f"{rules.display_name} needs a title")
            )
        return problems
    if not rules.has_title:
        return [
            Problem(
                "title",
                ProblemCode.TITLE_NOT_SUPPORTED,
                f"{rules.display_name} has no title field; put the headline into the body",
            )
        ]
    if rules.title_max is not None:
        length = measure(title, rules.title_unit)
        if length > rules.title_max:
            problems.append(
                Problem(
                    "title",
                    ProblemCode.TITLE_TOO_LONG,
                    f"title is {length} {rules.title_unit}, limit {rules.title_max}",
                    rules.title_max,
                    length,
                    rules.title_unit.value,
                )
            )
    if rules.title_bytes_max is not None:
        size = utf8_bytes(title)
        if size > rules.title_bytes_max:
            problems.append(
                Problem(
                    "title",
                    ProblemCode.TITLE_TOO_LONG_BYTES,
                    f"title is {size} UTF-8 bytes, limit {rules.title_bytes_max}",
                    rules.title_bytes_max,
                    size,
                    CountUnit.UTF8_BYTES.value,
                )
            )
    forbidden = sorted({char for char in title if char in rules.title_forbidden_chars})
    if forbidden:
        problems.append(
            Problem(
                "title",
                ProblemCode.TITLE_FORBIDDEN_CHARS,
                f"title must not contain {' '.join(forbidden)}",
            )
        )
    return problems


def _check_body(rules: ChannelRules, body: str) -> list[Problem]:
    problems: list[Problem] = []
    if not body.strip():
        if rules.body_required:
            problems.append(
                Problem("body", ProblemCode.BODY_REQUIRED, f"{rules.display_name} needs a body")
            )
        elif rules.body_required_url:
            problems.append(
                Problem("body", ProblemCode.BODY_URL_REQUIRED, "the text must contain a URL")
            )
        return problems
    if rules.body_max is not None:
        length = measure(body, rules.body_unit)
        if length > rules.body_max:
            problems.append(
                Problem(
                    "body",
                    ProblemCode.BODY_TOO_LONG,
                    f"body is {length} {rules.body_unit}, limit {rules.body_max}",
                    rules.body_max,
                    length,
                    rules.body_unit.value,
                )
            )
    if rules.body_bytes_max is not None:
        size = utf8_bytes(body)
        if size > rules.body_bytes_max:
            problems.append(
                Problem(
                    "body",
                    ProblemCode.BODY_TOO_LONG_BYTES,
                    f"body is {size} UTF-8 bytes, limit {rules.body_bytes_max}",
                    rules.body_bytes_max,
                    size,
                    CountUnit.UTF8_BYTES.value,
                )
            )
    if rules.body_required_url and not find_urls(body):
        problems.append(
            Problem(
                "body",
                ProblemCode.BODY_URL_REQUIRED,
                f"{rules.display_name} requires a URL (on the app's secure domain) in the text",
            )
        )
    if rules.hashtag_style is HashtagStyle.WEIBO and rules.hashtags_max == 0:
        topics = hashtags_in_text(body, HashtagStyle.WEIBO)
        if topics:
            problems.append(
                Problem(
                    "body",
                    ProblemCode.TOPIC_SYNTAX_FORBIDDEN,
                    f"API posts must not contain #话题# (found {len(topics)})",
                    0,
                    len(topics),
                )
            )
    return problems


def _check_hashtags(rules: ChannelRules, body: str, hashtags: Sequence[str]) -> list[Problem]:
    problems: list[Problem] = []
    listed = [normalize_hashtag(tag) for tag in hashtags]
    if rules.hashtag_style is None:
        if listed:
            problems.append(
                Problem(
                    "hashtags",
                    ProblemCode.HASHTAGS_NOT_SUPPORTED,
                    f"{rules.display_name} has no hashtags",
                    0,
                    len(listed),
                )
            )
        return problems
    for index, tag in enumerate(listed):
        if not tag or (rules.hashtag_style is HashtagStyle.INLINE and re.search(r"[\s#]", tag)):
            problems.append(
                Problem(
                    f"hashtags[{index}]",
                    ProblemCode.HASHTAG_INVALID,
                    f"hashtag {hashtags[index]!r} is empty or contains spaces or '#'",
                )
            )
    in_text = [] if rules.hashtags_max == 0 else hashtags_in_text(body, rules.hashtag_style)
    all_tags = _unique_casefold([tag for tag in listed if tag] + in_text)
    if rules.hashtags_max is not None and len(all_tags) > rules.hashtags_max:
        problems.append(
            Problem(
                "hashtags",
                ProblemCode.HASHTAGS_TOO_MANY,
                f"{len(all_tags)} hashtags, limit {rules.hashtags_max}",
                rules.hashtags_max,
                len(all_tags),
            )
        )
    if rules.hashtags_total_chars_max is not None:
        total = youtube_tags_length(listed)
        if total > rules.hashtags_total_chars_max:
            problems.append(
                Problem(
                    "hashtags",
                    ProblemCode.HASHTAGS_TOO_LONG,
                    f"tags total {total} characters, limit {rules.hashtags_total_chars_max}",
                    rules.hashtags_total_chars_max,
                    total,
                    CountUnit.CHARS.value,
                )
            )
    return problems


def _size_limit(rules: ChannelRules, kind: MediaKind, declared: str) -> int | None:
    if declared == MediaKind.GIF and rules.gif_max_bytes is not None:
        return rules.gif_max_bytes
    if kind is MediaKind.VIDEO:
        return rules.video_max_bytes
    return rules.image_max_bytes


def media_item_problems(
    rules: ChannelRules, index: int, item: Mapping[str, Any], kind: MediaKind
) -> list[Problem]:
    problems: list[Problem] = []
    field = f"media[{index}]"
    limit = _size_limit(rules, kind, str(item.get("kind")))
    size = item.get("size_bytes")
    if limit is not None and size is not None and size > limit:
        problems.append(
            Problem(
                field,
                ProblemCode.MEDIA_TOO_LARGE,
                f"{item.get('kind')} is {size} bytes, limit {limit}",
                limit,
                size,
                "bytes",
            )
        )
    if kind is not MediaKind.VIDEO:
        return problems
    duration = item.get("duration_s")
    if duration is not None:
        if rules.video_min_duration_s is not None and duration < rules.video_min_duration_s:
            problems.append(
                Problem(
                    field,
                    ProblemCode.VIDEO_TOO_SHORT,
                    f"video is {duration} s, minimum {rules.video_min_duration_s} s",
                    rules.video_min_duration_s,
                    duration,
                    "s",
                )
            )
        if rules.video_max_duration_s is not None and duration > rules.video_max_duration_s:
            problems.append(
                Problem(
                    field,
                    ProblemCode.VIDEO_TOO_LONG,
                    f"video is {duration} s, maximum {rules.video_max_duration_s} s",
                    rules.video_max_duration_s,
                    duration,
                    "s",
                )
            )
    side = max(item.get("width") or 0, item.get("height") or 0)
    if rules.video_max_side_px is not None and side > rules.video_max_side_px:
        problems.append(
            Problem(
                field,
                ProblemCode.VIDEO_DIMENSIONS_TOO_LARGE,
                f"video side is {side} px, maximum {rules.video_max_side_px} px",
                rules.video_max_side_px,
                side,
                "px",
            )
        )
    return problems


def _count_problem(code: ProblemCode, what: str, limit: int | None, actual: int) -> list[Problem]:
    if limit is None or actual <= limit:
        return []
    message = f"{what} not accepted" if limit == 0 else f"{actual} {what}, limit {limit}"
    return [Problem("media", code, message, limit, actual)]


def _check_media(rules: ChannelRules, media: Sequence[Mapping[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    kinds: list[MediaKind] = []
    for index, item in enumerate(media):
        kind = effective_kind(rules, str(item.get("kind")))
        if kind is None:
            problems.append(
                Problem(
                    f"media[{index}]",
                    ProblemCode.MEDIA_KIND_UNKNOWN,
                    f"unknown media kind {item.get('kind')!r}; use image, video or gif",
                )
            )
            continue
        kinds.append(kind)
        problems.extend(media_item_problems(rules, index, item, kind))
    images = kinds.count(MediaKind.IMAGE)
    videos = kinds.count(MediaKind.VIDEO)
    gifs = kinds.count(MediaKind.GIF)
    problems += _count_problem(
        ProblemCode.TOO_MANY_IMAGES, "images", rules.media_max_images, images
    )
    problems += _count_problem(
        ProblemCode.TOO_MANY_VIDEOS, "videos", rules.media_max_videos, videos
    )
    problems += _count_problem(ProblemCode.TOO_MANY_GIFS, "GIFs", rules.media_max_gifs, gifs)
    problems += _count_problem(
        ProblemCode.TOO_MANY_MEDIA, "media items", rules.media_max_total, len(kinds)
    )
    if not rules.mix_images_video and len(set(kinds)) > 1:
        problems.append(
            Problem(
                "media",
                ProblemCode.MEDIA_MIX_FORBIDDEN,
                f"{rules.display_name} cannot mix "
                + " and ".join(sorted(kind.value for kind in set(kinds))),
            )
        )
    if rules.media_required and not media:
        problems.append(
            Problem("media", ProblemCode.MEDIA_REQUIRED, f"{rules.display_name} needs media")
        )
    if rules.video_required and videos == 0:
        problems.append(
            Problem("media", ProblemCode.VIDEO_REQUIRED, f"{rules.display_name} needs a video")
        )
    if rules.cover_required and images == 0:
        problems.append(
            Problem(
                "media", ProblemCode.COVER_REQUIRED, f"{rules.display_name} needs a cover image"
            )
        )
    return problems


def _check_link(rules: ChannelRules, body: str, link: str) -> list[Problem]:
    if rules.link_placement is LinkPlacement.NONE:
        return [
            Problem(
                "link",
                ProblemCode.LINK_NOT_SUPPORTED,
                f"{rules.display_name} does not take links",
            )
        ]
    if find_urls(link) != [(0, len(link))]:
        return [Problem("link", ProblemCode.LINK_INVALID, f"{link!r} is not an http(s) URL")]
    if rules.link_placement is LinkPlacement.INLINE and not contains_url(body, link):
        return [
            Problem(
                "link",
                ProblemCode.LINK_NOT_IN_BODY,
                f"{rules.display_name} has no link field; write the URL into the body",
            )
        ]
    size = utf8_bytes(link)
    if rules.link_bytes_max is not None and size > rules.link_bytes_max:
        return [
            Problem(
                "link",
                ProblemCode.LINK_TOO_LONG,
                f"link is {size} bytes, limit {rules.link_bytes_max}",
                rules.link_bytes_max,
                size,
                CountUnit.UTF8_BYTES.value,
            )
        ]
    return []


def validate_variant(
    channel: str,
    *,
    title: str | None = None,
    body: str = "",
    hashtags: Sequence[str] = (),
    media: Sequence[Mapping[str, Any]] = (),
    link: str | None = None,
) -> list[Problem]:
    """Every problem that would stop `channel` from accepting this variant (empty: valid).

    Raises UnknownChannel for a channel with no rules.
    """
    rules = get_rules(channel)
    title = title or ""
    body = body or ""
    problems = _check_title(rules, title)
    problems += _check_body(rules, body)
    problems += _check_hashtags(rules, body, hashtags)
    problems += _check_media(rules, media)
    if link:
        problems += _check_link(rules, body, link)
    if not title.strip() and not body.strip() and not media:
        problems.append(Problem("body", ProblemCode.EMPTY_POST, "the post has no content"))
    return problems
