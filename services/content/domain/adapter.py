"""Draft a channel variant from the master content: adapt, never copy-paste.

For each channel the adapter converts markup (HTML to text for plain-text platforms, text to
<p> paragraphs for HTML ones), moves the title into the text where there is no title field,
writes hashtags in the platform's style, adds the link where the platform takes it, fits the
title and body in the platform's own counting unit (cutting at a sentence end, with "…" only
when cut mid-sentence) and keeps media within the platform's counts. `notes` says what changed.
The draft passes `validate_variant` whenever the master has what the channel requires (a cover
image for WeChat, a video for YouTube/Bilibili, any media for Instagram/TikTok/XHS/Douyin, a
link for Weibo); otherwise a note says what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.platforms.counting import contains_url, find_urls, measure, utf8_bytes
from shared.platforms.rules import (
    ChannelRules,
    HashtagStyle,
    LinkPlacement,
    Markup,
    MediaKind,
    get_rules,
)
from shared.platforms.text import (
    fit_html,
    fit_text,
    html_to_text,
    looks_like_html,
    normalize_plain,
    sentence_ends,
    strip_scripts,
    text_to_html,
)
from shared.platforms.validate import (
    INLINE_HASHTAG_RE,
    WEIBO_TOPIC_RE,
    Problem,
    effective_kind,
    hashtags_in_text,
    media_item_problems,
    normalize_hashtag,
    validate_variant,
    youtube_tags_length,
)


@dataclass(frozen=True)
class MasterContent:
    """The channel-neutral content a variant is drafted from."""

    title: str = ""
    body: str = ""  # HTML (articles) or plain text
    summary: str = ""
    tags: tuple[str, ...] = ()
    media: tuple[Mapping[str, Any], ...] = ()
    link: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MasterContent:
        return cls(
            title=data.get("title") or "",
            body=data.get("body") or "",
            summary=data.get("summary") or "",
            tags=tuple(data.get("tags") or ()),
            media=tuple(data.get("media") or ()),
            link=data.get("link") or None,
        )


@dataclass(frozen=True)
class VariantDraft:
    channel: str
    title: str | None
    body: str
    hashtags: list[str]
    media: list[dict[str, Any]]
    link: str | None
    notes: list[str] = field(default_factory=list)

    def problems(self) -> list[Problem]:
        return validate_variant(
            self.channel,
            title=self.title,
            body=self.body,
            hashtags=self.hashtags,
            media=self.media,
            link=self.link,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "title": self.title,
            "body": self.body,
            "hashtags": list(self.hashtags),
            "media": [dict(item) for item in self.media],
            "link": self.link,
            "notes": list(self.notes),
        }


def _limit_text(rules: ChannelRules) -> str:
    return f"{rules.body_max} {rules.body_unit}" if rules.body_max is not None else "no limit"


def _body_fits(rules: ChannelRules) -> Callable[[str], bool]:
    def fits(text: str) -> bool:
        if rules.body_max is not None and measure(text, rules.body_unit) > rules.body_max:
            return False
        return rules.body_bytes_max is None or utf8_bytes(text) <= rules.body_bytes_max

    return fits


def _title_fits(rules: ChannelRules) -> Callable[[str], bool]:
    def fits(text: str) -> bool:
        if rules.title_max is not None and measure(text, rules.title_unit) > rules.title_max:
            return False
        return rules.title_bytes_max is None or utf8_bytes(text) <= rules.title_bytes_max

    return fits


def _one_line(text: str) -> str:
    if looks_like_html(text):
        text = html_to_text(text)
    return re.sub(r"\s+", " ", text).strip()


def _first_sentence(text: str) -> str:
    ends = sentence_ends(text)
    return text[: ends[0]].strip() if ends else text.strip()


# --- title -------------------------------------------------------------------------------


def _adapt_title(rules: ChannelRules, master: MasterContent, text: str, notes: list[str]) -> str:
    title = _one_line(master.title)
    if rules.title_forbidden_chars and any(c in title for c in rules.title_forbidden_chars):
        title = "".join(c for c in title if c not in rules.title_forbidden_chars)
        title = re.sub(r"\s+", " ", title).strip()
        notes.append(f"title: removed characters {rules.title_forbidden_chars!r} not allowed")
    if not title and rules.title_required:
        title = _one_line(_first_sentence(_one_line(master.summary) or text))
        if title:
            notes.append("title: none given; used the first sentence of the text")
    fitted, how = fit_text(title, _title_fits(rules))
    if how is not None:
        unit = f"{rules.title_max} {rules.title_unit}" if rules.title_max else ""
        if rules.title_bytes_max is not None:
            unit = f"{unit} and {rules.title_bytes_max} UTF-8 bytes".lstrip(" and")
        ending = " with '…'" if how == "mid_sentence" else " at a sentence end"
        notes.append(f"title: shortened{ending} to fit {unit}")
    return fitted


# --- hashtags ----------------------------------------------------------------------------


def _render_tag(tag: str, style: HashtagStyle) -> str:
    return f"#{tag}#" if style is HashtagStyle.WEIBO else f"#{tag}"


def format_hashtags(tags: Sequence[str], style: HashtagStyle | None) -> str:
    """Tags written for the text: "#a #b" (inline), "#a##b#" (Weibo), "" when separate."""
    if style is HashtagStyle.INLINE:
        return " ".join(_render_tag(tag, style) for tag in tags)
    if style is HashtagStyle.WEIBO:
        return "".join(_render_tag(tag, style) for tag in tags)
    return ""


def _clean_tag(tag: str, style: HashtagStyle) -> str:
    tag = normalize_hashtag(tag)
    if style is HashtagStyle.INLINE:
        return re.sub(r"[^\w]", "", tag)  # "#new media" would only link "#new"
    if style is HashtagStyle.WEIBO:
        return tag.replace("#", "")
    return tag


def _adapt_hashtags(rules: ChannelRules, tags: Sequence[str], notes: list[str]) -> list[str]:
    given = [normalize_hashtag(tag) for tag in tags if normalize_hashtag(tag)]
    if not given:
        return []
    style = rules.hashtag_style
    if style is None:
        notes.append(f"hashtags: {rules.display_name} has none; dropped {len(given)}")
        return []
    cleaned: list[str] = []
    seen: set[str] = set()
    for tag in given:
        clean = _clean_tag(tag, style)
        if clean and clean.casefold() not in seen:
            seen.add(clean.casefold())
            cleaned.append(clean)
    if [t for t in given if _clean_tag(t, style) != t]:
        notes.append("hashtags: removed spaces and punctuation so each tag links as one")
    if rules.hashtags_max is not None and len(cleaned) > rules.hashtags_max:
        dropped = len(cleaned) - rules.hashtags_max
        reason = (
            "API posts cannot carry #话题#"
            if rules.hashtags_max == 0
            else f"limit {rules.hashtags_max}"
        )
        notes.append(f"hashtags: dropped {dropped} ({reason})")
        cleaned = cleaned[: rules.hashtags_max]
    if cleaned and style is HashtagStyle.SEPARATE:
        notes.append("hashtags: passed as a separate topic/tag list, not in the text")
    elif cleaned:
        notes.append(f"hashtags: written into the text as {_render_tag('tag', style)}")
    return cleaned


def _youtube_cap(rules: ChannelRules, tags: list[str], notes: list[str]) -> list[str]:
    if rules.hashtags_total_chars_max is None:
        return tags
    kept = list(tags)
    while kept and youtube_tags_length(kept) > rules.hashtags_total_chars_max:
        kept.pop()
    if len(kept) < len(tags):
        notes.append(f"hashtags: dropped {len(tags) - len(kept)} to stay within 500 characters")
    return kept


# --- media -------------------------------------------------------------------------------


def _adapt_media(
    rules: ChannelRules, media: Sequence[Mapping[str, Any]], notes: list[str]
) -> list[dict[str, Any]]:
    items: list[tuple[dict[str, Any], MediaKind]] = []
    for item in media:
        kind = effective_kind(rules, str(item.get("kind")))
        if kind is None:
            notes.append(f"media: dropped an item of unknown kind {item.get('kind')!r}")
            continue
        problems = media_item_problems(rules, 0, item, kind)
        if problems:
            notes.append(f"media: dropped a {item.get('kind')}: {problems[0].message}")
            continue
        items.append((dict(item), kind))
    # covers first, so count caps never drop the cover
    items.sort(key=lambda pair: 0 if pair[0].get("role") == "cover" else 1)

    kinds = {kind for _, kind in items}
    if not rules.mix_images_video and len(kinds) > 1:
        if rules.video_required and MediaKind.VIDEO in kinds:
            keep = MediaKind.VIDEO
        elif MediaKind.IMAGE in kinds:
            keep = MediaKind.IMAGE
        else:
            keep = items[0][1]
        dropped = [kind.value for _, kind in items if kind is not keep]
        items = [(item, kind) for item, kind in items if kind is keep]
        notes.append(
            f"media: dropped {len(dropped)} {'/'.join(sorted(set(dropped)))} item(s); "
            f"{rules.display_name} cannot mix media kinds"
        )

    caps = {
        MediaKind.IMAGE: rules.media_max_images,
        MediaKind.VIDEO: rules.media_max_videos,
        MediaKind.GIF: rules.media_max_gifs,
    }
    counts = dict.fromkeys(MediaKind, 0)
    kept: list[dict[str, Any]] = []
    for item, kind in items:
        cap = caps[kind]
        if cap is not None and counts[kind] >= cap:
            continue
        if rules.media_max_total is not None and len(kept) >= rules.media_max_total:
            continue
        counts[kind] += 1
        kept.append(item)
    if len(kept) < len(items):
        notes.append(
            f"media: kept {len(kept)} of {len(items)} items (limits: images "
            f"{rules.media_max_images}, videos {rules.media_max_videos}, "
            f"total {rules.media_max_total})"
        )
    if rules.cover_required and counts[MediaKind.IMAGE] == 0:
        notes.append(f"media: {rules.display_name} needs a cover image; none given")
    if rules.video_required and counts[MediaKind.VIDEO] == 0:
        notes.append(f"media: {rules.display_name} needs a video; none given")
    elif rules.media_required and not kept:
        notes.append(f"media: {rules.display_name} needs an image or video; none given")
    return kept


# --- link --------------------------------------------------------------------------------


def _master_link(rules: ChannelRules, master: MasterContent, notes: list[str]) -> str | None:
    link = (master.link or "").strip() or None
    if link is None and rules.body_required_url:
        source = master.summary + "\n" + master.body
        urls = find_urls(source)
        if urls:
            link = source[urls[0][0] : urls[0][1]]
            notes.append("link: none given; using the first URL of the text")
        else:
            notes.append(f"link: {rules.display_name} requires a URL in the text; none given")
    if link is None:
        return None
    if rules.link_placement is LinkPlacement.NONE:
        notes.append(f"link: dropped ({rules.display_name} does not take clickable links)")
        return None
    if rules.link_bytes_max is not None and utf8_bytes(link) > rules.link_bytes_max:
        notes.append(f"link: dropped (longer than {rules.link_bytes_max} bytes)")
        return None
    return link


# --- body --------------------------------------------------------------------------------


def _plain_source(text: str, notes: list[str], what: str) -> str:
    if looks_like_html(text):
        notes.append(f"{what}: HTML converted to plain text (paragraph breaks kept)")
        return html_to_text(text)
    return normalize_plain(text)


def _strip_weibo_topics(rules: ChannelRules, text: str, notes: list[str]) -> str:
    if not (rules.hashtag_style is HashtagStyle.WEIBO and rules.hashtags_max == 0):
        return text
    stripped = text
    while WEIBO_TOPIC_RE.search(stripped):
        stripped = WEIBO_TOPIC_RE.sub(lambda m: m.group(1), stripped)
    if stripped != text:
        notes.append("body: removed #话题# marks (not allowed in Weibo API posts)")
    return stripped


def _strip_urls(rules: ChannelRules, pieces: list[str], notes: list[str]) -> list[str]:
    """Remove URLs where links are not clickable (Xiaohongshu penalises them)."""
    if rules.link_placement is not LinkPlacement.NONE:
        return pieces
    stripped: list[str] = []
    removed = 0
    for piece in pieces:
        spans = find_urls(piece)
        removed += len(spans)
        for start, end in reversed(spans):
            piece = piece[:start].rstrip(" ") + (" " if start else "") + piece[end:].lstrip(" ")
        stripped.append(re.sub(r"[(（]\s*[)）]", "", piece).strip(" "))
    if removed:
        notes.append(f"body: removed {removed} URL(s); links are not clickable there")
    return stripped


def _cap_text_hashtags(
    rules: ChannelRules, pieces: list[str], listed: list[str], notes: list[str]
) -> list[str]:
    """Take the '#' off in-text hashtags beyond the channel's maximum (listed tags first)."""
    if not (rules.hashtag_style is HashtagStyle.INLINE and rules.hashtags_max is not None):
        return pieces
    kept = {tag.casefold() for tag in listed}
    dehashed = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal dehashed
        tag = match.group(1).casefold()
        if tag in kept or len(kept) < rules.hashtags_max:
            kept.add(tag)
            return match.group(0)
        dehashed += 1
        return match.group(1)

    capped = [INLINE_HASHTAG_RE.sub(replace, piece) for piece in pieces]
    if dehashed:
        notes.append(f"hashtags: {dehashed} in-text hashtag(s) over the limit made plain words")
    return capped


def _plain_body(
    rules: ChannelRules,
    master: MasterContent,
    hashtags: list[str],
    link: str | None,
    notes: list[str],
) -> tuple[str, list[str]]:
    text = _strip_weibo_topics(rules, _plain_source(master.body, notes, "body"), notes)
    summary = _strip_weibo_topics(rules, _plain_source(master.summary, [], "summary"), [])
    lead = ""
    if not rules.has_title and _one_line(master.title):
        lead = _one_line(master.title)
        if text.startswith(lead) or summary.startswith(lead):
            lead = ""
        else:
            notes.append(f"title: {rules.display_name} has no title; used as the first line")
    tags = list(hashtags) if rules.hashtags_inline else []
    text, summary = _strip_urls(rules, [text, summary], notes)
    lead, text, summary = _cap_text_hashtags(rules, [lead, text, summary], tags, notes)
    fits = _body_fits(rules)
    inline_link = link if rules.link_placement is LinkPlacement.INLINE else None

    def compose(core: str, tags: list[str]) -> str:
        present = set(t.casefold() for t in hashtags_in_text(core, rules.hashtag_style))
        tag_line = format_hashtags(
            [t for t in tags if t.casefold() not in present], rules.hashtag_style
        )
        link_part = inline_link if inline_link and not contains_url(core, inline_link) else ""
        return "\n\n".join(part for part in (core, link_part, tag_line) if part)

    # hashtags may take at most half of the budget, and must leave the link room
    budget = rules.body_max
    while tags and (
        not fits(compose("", tags))
        or (budget is not None and 2 * measure(compose("", tags), rules.body_unit) > budget)
    ):
        tags.pop()
    if rules.hashtags_inline and len(tags) < len(hashtags):
        notes.append(f"hashtags: dropped {len(hashtags) - len(tags)} to leave room for the text")
        hashtags = hashtags[: len(tags)]
    if inline_link and not fits(compose("", tags)):
        notes.append("link: does not fit the text limit")
        inline_link = None

    def join(*parts: str) -> str:
        return "\n\n".join(part for part in parts if part)

    full = join(lead, text)
    if fits(compose(full, tags)):
        body = compose(full, tags)
    else:
        if summary and fits(compose(join(lead, summary), tags)):
            notes.append(f"body: full text exceeds {_limit_text(rules)}; used the summary")
            core, how = join(lead, summary), None
        else:
            core, how = fit_text(join(lead, summary or text), lambda c: fits(compose(c, tags)))
            source = "summary" if summary else "text"
            if how == "sentence":
                notes.append(f"body: {source} cut at a sentence end to fit {_limit_text(rules)}")
            elif how == "mid_sentence":
                notes.append(f"body: {source} cut mid-sentence ('…') to fit {_limit_text(rules)}")
        body = compose(core, tags)
    source = master.body + "\n" + master.summary
    if inline_link and contains_url(body, inline_link) and not contains_url(source, inline_link):
        notes.append("link: added to the text")
    return body, hashtags


def _html_body(rules: ChannelRules, master: MasterContent, notes: list[str]) -> str:
    if looks_like_html(master.body):
        markup = strip_scripts(master.body)
        if markup != master.body:
            notes.append("body: removed <script>/<style> elements")
    else:
        markup = text_to_html(master.body)
        if markup:
            notes.append("body: plain text wrapped in <p> paragraphs")
    fitted, how = fit_html(markup, _body_fits(rules))
    if how is not None:
        ending = "mid-sentence ('…')" if how == "mid_sentence" else "at a block/sentence end"
        notes.append(f"body: cut {ending} to fit {_limit_text(rules)} (HTML included)")
    return fitted


def draft_variant(channel: str, master: MasterContent | Mapping[str, Any]) -> VariantDraft:
    """A variant of `master` adapted to `channel`'s rules, with notes on what was changed.

    Raises UnknownChannel for a channel with no rules.
    """
    rules = get_rules(channel)
    if not isinstance(master, MasterContent):
        master = MasterContent.from_mapping(master)
    notes: list[str] = []

    media = _adapt_media(rules, master.media, notes)
    hashtags = _youtube_cap(rules, _adapt_hashtags(rules, master.tags, notes), notes)
    link = _master_link(rules, master, notes)

    if rules.markup is Markup.HTML:
        body = _html_body(rules, master, notes)
    else:
        body, hashtags = _plain_body(rules, master, hashtags, link, notes)

    title: str | None = None
    if rules.has_title:
        title = _adapt_title(rules, master, html_to_text(body) if body else "", notes)

    return VariantDraft(
        channel=rules.channel,
        title=title,
        body=body,
        hashtags=hashtags,
        media=media,
        link=link if rules.link_placement is LinkPlacement.FIELD else None,
        notes=notes,
    )
