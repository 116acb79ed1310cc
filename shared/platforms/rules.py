"""Per-channel publishing rules: limits, counting units, media and hashtag conventions.

Values come from the handbook (/work/shared/design/platforms.md). Where sources disagree the
stricter value is used and the conflict is named in `notes`; `confidence` carries the handbook's
tag (H: platform doc/source, M: older official or several tools agree, L: one third-party source
or unverified, "own": our own rule for a generic channel). Limits are inclusive maxima.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from shared.platforms.counting import CountUnit


class Markup(StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"
    PLAIN = "plain"


class HashtagStyle(StrEnum):
    INLINE = "#tag"  # written into the text, "#tag"
    WEIBO = "#tag#"  # written into the text, closed: "#话题#"
    SEPARATE = "separate"  # passed as a list field (topics, tags, categories)


class LinkPlacement(StrEnum):
    INLINE = "inline"  # the URL goes into the text
    FIELD = "field"  # the platform has a link field (e.g. WeChat content_source_url)
    NONE = "none"  # links are not clickable / not accepted (Instagram captions, XHS notes)


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    GIF = "gif"


@dataclass(frozen=True)
class RateLimit:
    """A posting or API cap, e.g. 30 posts per 3600 s per user per app."""

    action: str
    limit: int
    window_s: int
    scope: str
    note: str = ""


@dataclass(frozen=True)
class ChannelRules:
    channel: str
    display_name: str
    # Title. title_max None means no known limit (see title_supported).
    title_max: int | None
    title_unit: CountUnit
    title_bytes_max: int | None
    title_required: bool
    # Body / caption / text. body_max None means no known limit.
    body_max: int | None
    body_unit: CountUnit
    body_bytes_max: int | None
    body_required_url: bool
    # Media. None means no known limit; 0 means not accepted.
    media_max_images: int | None
    media_max_videos: int | None
    mix_images_video: bool
    hashtag_style: HashtagStyle | None
    hashtags_max: int | None
    markup: Markup
    rate_limits: tuple[RateLimit, ...]
    notes: tuple[str, ...]
    confidence: str
    sources: tuple[str, ...]
    body_required: bool = False
    title_supported: bool = True  # False: the platform has no title field at all
    title_forbidden_chars: str = ""
    hashtags_total_chars_max: int | None = None  # YouTube: all tags together
    link_placement: LinkPlacement = LinkPlacement.INLINE
    link_bytes_max: int | None = None
    media_max_total: int | None = None
    media_max_gifs: int | None = None  # used only when gif_counts_as is GIF
    gif_counts_as: MediaKind = MediaKind.IMAGE  # how the platform treats an animated GIF
    media_required: bool = False  # at least one image or video
    video_required: bool = False
    cover_required: bool = False  # at least one image, used as the cover
    image_max_bytes: int | None = None
    gif_max_bytes: int | None = None
    video_max_bytes: int | None = None
    video_min_duration_s: float | None = None
    video_max_duration_s: float | None = None
    video_max_side_px: int | None = None

    @property
    def has_title(self) -> bool:
        return self.title_supported

    @property
    def hashtags_inline(self) -> bool:
        return self.hashtag_style in (HashtagStyle.INLINE, HashtagStyle.WEIBO)


class UnknownChannel(KeyError):
    """A channel name with no rules; the message lists the known channels."""

    def __init__(self, channel: str, known: list[str]) -> None:
        self.channel = channel
        self.known = known
        super().__init__(f"unknown channel {channel!r}; known channels: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


_MB = 1024 * 1024
_HOUR = 3600
_DAY = 86_400

_GENERIC_NOTE = "Generic channel: no platform limits; the receiving system decides."

_ALL: tuple[ChannelRules, ...] = (
    ChannelRules(
        channel="wechat_mp",
        display_name="WeChat Official Account (article)",
        title_max=32,
        title_unit=CountUnit.CHARS,
        title_bytes_max=64,
        title_required=True,
        body_max=19_999,
        body_unit=CountUnit.CHARS,
        body_bytes_max=999_999,
        body_required_url=False,
        media_max_images=None,
        media_max_videos=0,
        mix_images_video=False,
        hashtag_style=None,
        hashtags_max=None,
        markup=Markup.HTML,
        rate_limits=(
            RateLimit("group_send", 1, _DAY, "subscription account", "resets at 0:00"),
            RateLimit("group_send_received", 4, 31 * _DAY, "follower", "service account, month"),
            RateLimit("sendall_request", 60, 60, "app"),
            RateLimit("token_fetch", 2000, _DAY, "app", "/cgi-bin/token; stable_token differs"),
        ),
        notes=(
            "Title: new doc says 32 字, group-send rules and tools say 64 bytes; both enforced.",
            "content < 20,000 characters counted with HTML tags and attributes, and < 1 MB.",
            "Cover (thumb_media_id) required: a permanent image material; first image is used.",
            "Inline images must be re-uploaded via media/uploadimg (jpg/png < 1 MB).",
            "Video goes through separate material APIs, not the article body.",
            "digest <= 128 字; empty digest takes the first 54 字 of the body.",
            "content_source_url ('read original') <= 1 KB.",
        ),
        confidence="H",
        sources=(
            "developers.weixin.qq.com/doc/service/api/draftbox/draftmanage/api_draft_add",
            "developers.weixin.qq.com community: 公众平台群发规则官方",
        ),
        body_required=True,
        link_placement=LinkPlacement.FIELD,
        link_bytes_max=1024,
        cover_required=True,
        image_max_bytes=10 * _MB,
    ),
    ChannelRules(
        channel="weibo",
        display_name="Sina Weibo (statuses/share)",
        title_max=None,
        title_unit=CountUnit.WEIBO_UNITS,
        title_bytes_max=None,
        title_required=False,
        body_max=140,
        body_unit=CountUnit.WEIBO_UNITS,
        body_bytes_max=None,
        body_required_url=True,
        media_max_images=1,
        media_max_videos=0,
        mix_images_video=False,
        hashtag_style=HashtagStyle.WEIBO,
        hashtags_max=0,
        markup=Markup.PLAIN,
        rate_limits=(
            RateLimit("post", 30, _HOUR, "user per app", "test/normal level; intermediate 60"),
            RateLimit("api_call", 150, _HOUR, "user per app", "test/normal level"),
        ),
        notes=(
            "status <= 140 汉字; two half-width characters count as one 字.",
            "status must contain a URL on the app's bound secure domain (not checked here).",
            "statuses/share must not contain #话题#; hashtags are dropped for API posts.",
            "One image (pic), JPEG/GIF/PNG < 5 MB; no video through the API.",
            "rip (end user's real IP) is required by the current doc.",
            "Identical text posted twice in quick succession is rejected or hidden.",
        ),
        confidence="H",
        sources=("open.weibo.com/wiki/2/statuses/share", "open.weibo.com Rate-limiting wiki"),
        body_required=True,
        image_max_bytes=5 * _MB - 1,
        title_supported=False,
    ),
    ChannelRules(
        channel="douyin",
        display_name="Douyin (open platform)",
        title_max=30,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=False,
        body_max=1000,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=35,
        media_max_videos=1,
        mix_images_video=False,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(),
        notes=(
            "The open-platform `text` field holds title + #topics + @mentions; its length is "
            "undocumented. 30 字 is the creator-UI title; the 1000 body cap is unverified.",
            "Video <= 4 GB and <= 15 min; files > 128 MB must be uploaded in chunks.",
            "Image posts (图文) up to 35 images (one tool).",
            "Access token 15 days; refresh token 30 days, renewable 5 times.",
        ),
        confidence="L",
        sources=("Douyin open platform video docs (H)", "creator UI / tools (L)"),
        link_placement=LinkPlacement.NONE,
        media_required=True,
        video_max_bytes=4 * 1024 * _MB,
        video_max_duration_s=15 * 60,
    ),
    ChannelRules(
        channel="xiaohongshu",
        display_name="Xiaohongshu (RED) note",
        title_max=20,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=False,
        body_max=1000,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=18,
        media_max_videos=1,
        mix_images_video=False,
        hashtag_style=HashtagStyle.SEPARATE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(
            RateLimit("post", 2, _DAY, "account", "tools' own safety rule, >= 2 h apart"),
        ),
        notes=(
            "No public publishing API; tools automate creator.xiaohongshu.com.",
            "Title <= 20 字 (one tool counts CJK as 2 with a limit of 38).",
            "Image notes need 1-18 images, 3:4 (1080x1440) recommended.",
            "Topics are chosen separately, not written into the body.",
            "Links in notes are not clickable.",
            "AI-generated content must be labelled (AI生成) since 2025-09-01 (unverified).",
        ),
        confidence="M",
        sources=("several creator-centre automation tools",),
        link_placement=LinkPlacement.NONE,
        media_required=True,
    ),
    ChannelRules(
        channel="bilibili",
        display_name="Bilibili video",
        title_max=80,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=True,
        body_max=2000,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=1,
        media_max_videos=1,
        mix_images_video=True,
        hashtag_style=HashtagStyle.SEPARATE,
        hashtags_max=10,
        markup=Markup.PLAIN,
        rate_limits=(RateLimit("submission", 5, _DAY, "account", "non-regular members"),),
        notes=(
            "Description 250-2000 depending on category (tools); 2000 used.",
            "Flow: preupload, chunks, merge, cover upload, add-by-utoken, then review.",
            "Video <= 4 GB, < 5 h, <= 60 Mbps, <= 4096x4096, <= 120 fps.",
            "Edits change metadata only and trigger re-review.",
        ),
        confidence="M",
        sources=("Bilibili open-platform doc mirror (apifox)", "uploader tools"),
        link_placement=LinkPlacement.NONE,
        media_required=True,
        video_required=True,
        cover_required=True,
        video_max_bytes=4 * 1024 * _MB,
        video_max_duration_s=5 * 3600 - 1,
        video_max_side_px=4096,
    ),
    ChannelRules(
        channel="x",
        display_name="X (Twitter)",
        title_max=None,
        title_unit=CountUnit.X_WEIGHTED,
        title_bytes_max=None,
        title_required=False,
        body_max=280,
        body_unit=CountUnit.X_WEIGHTED,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=4,
        media_max_videos=1,
        mix_images_video=False,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(
            RateLimit("post", 100, _DAY, "user", "Basic plan 2023; plan- and date-dependent"),
            RateLimit("post", 1667, _DAY, "app", "Basic plan 2023"),
        ),
        notes=(
            "280 weighted characters (Premium 25,000); CJK and emoji weigh 2, URLs 23.",
            "4 photos OR 1 animated GIF OR 1 video per post.",
            "Image 5 MB, GIF 15 MB, video 512 MB (0.5-140 s standard).",
            "Identical consecutive text is rejected (403).",
        ),
        confidence="H",
        sources=("twitter-text config v3", "docs.x.com/x-api/media"),
        media_max_gifs=1,
        gif_counts_as=MediaKind.GIF,
        image_max_bytes=5 * _MB,
        gif_max_bytes=15 * _MB,
        video_max_bytes=512 * _MB,
        video_min_duration_s=0.5,
        video_max_duration_s=140,
        title_supported=False,
    ),
    ChannelRules(
        channel="mastodon",
        display_name="Mastodon (upstream defaults)",
        title_max=None,
        title_unit=CountUnit.MASTODON,
        title_bytes_max=None,
        title_required=False,
        body_max=500,
        body_unit=CountUnit.MASTODON,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=4,
        media_max_videos=1,
        mix_images_video=False,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(
            RateLimit("post", 300, 3 * _HOUR, "account"),
            RateLimit("api_call", 300, 300, "account"),
            RateLimit("media_upload", 30, 1800, "account"),
            RateLimit("scheduled_post", 25, _DAY, "account", "300 pending in total"),
        ),
        notes=(
            "Instances change the limits: read GET /api/v2/instance configuration.statuses.",
            "The content warning (spoiler_text) counts toward the 500.",
            "Images and video cannot be mixed (422 images_and_video); GIFs become gifv video.",
            "Use a deterministic Idempotency-Key per (post, target); kept 1 hour.",
        ),
        confidence="H",
        sources=("mastodon/mastodon StatusLengthValidator", "mastodon/documentation methods"),
        media_max_total=4,
        gif_counts_as=MediaKind.VIDEO,
        image_max_bytes=16_777_216,
        video_max_bytes=103_809_024,
        title_supported=False,
    ),
    ChannelRules(
        channel="bluesky",
        display_name="Bluesky (AT Protocol)",
        title_max=None,
        title_unit=CountUnit.GRAPHEMES,
        title_bytes_max=None,
        title_required=False,
        body_max=300,
        body_unit=CountUnit.GRAPHEMES,
        body_bytes_max=3000,
        body_required_url=False,
        media_max_images=4,
        media_max_videos=1,
        mix_images_video=False,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(
            RateLimit("post", 1666, _HOUR, "account", "5,000 write points/h, create = 3"),
            RateLimit("post", 11_666, _DAY, "account", "35,000 write points/day"),
            RateLimit("create_session", 30, 300, "account", "300/day"),
        ),
        notes=(
            "text <= 300 graphemes AND <= 3000 UTF-8 bytes.",
            "Links, mentions, hashtags are facets with UTF-8 byte offsets.",
            "Images: <= 4, each blob <= 1,000,000 bytes, alt text required (may be empty).",
        ),
        confidence="H",
        sources=("bluesky-social/atproto lexicons/app/bsky/feed/post.json", "bsky-docs"),
        image_max_bytes=1_000_000,
        video_max_bytes=50 * _MB,
        title_supported=False,
    ),
    ChannelRules(
        channel="tiktok",
        display_name="TikTok (Content Posting API)",
        title_max=90,
        title_unit=CountUnit.UTF16_UNITS,
        title_bytes_max=None,
        title_required=False,
        body_max=2200,
        body_unit=CountUnit.UTF16_UNITS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=35,
        media_max_videos=1,
        mix_images_video=False,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(
            RateLimit("post_init", 6, 60, "user token"),
            RateLimit("post", 15, _DAY, "creator", "approximate"),
        ),
        notes=(
            "Caption <= 2,200 UTF-16 units; photo-post title <= 90.",
            "Unaudited clients can only post privately (SELF_ONLY).",
            "Query creator_info first: privacy options and max video duration.",
            "Photo posts: JPEG, <= 35 images; no video+photo mix.",
        ),
        confidence="M",
        sources=("developers.tiktok.com content-posting-api-reference-direct-post", "Workato"),
        link_placement=LinkPlacement.NONE,
        media_required=True,
        video_max_bytes=4 * 1024 * _MB,
        video_min_duration_s=3,
        video_max_duration_s=600,
        video_max_side_px=4096,
    ),
    ChannelRules(
        channel="linkedin",
        display_name="LinkedIn",
        title_max=None,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=False,
        body_max=3000,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=10,
        media_max_videos=1,
        mix_images_video=False,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(RateLimit("post", 150, _DAY, "account"),),
        notes=(
            "Up to 10 photos OR 1 video OR 1 document, never mixed.",
            "A link preview shows only when the post has no media.",
        ),
        confidence="M",
        sources=("Ayrshare character-limit page", "postsyncer"),
        title_supported=False,
    ),
    ChannelRules(
        channel="instagram",
        display_name="Instagram (Graph API)",
        title_max=None,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=False,
        body_max=2200,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=10,
        media_max_videos=10,
        mix_images_video=True,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=5,
        markup=Markup.PLAIN,
        rate_limits=(
            RateLimit("post", 100, _DAY, "account", "rolling; was 25; check the limit endpoint"),
        ),
        notes=(
            "Hashtags: Meta docs say 30, 2026 SaaS docs say 5; 5 used.",
            "Carousel <= 10 (older) / 20 (2026); 10 used. Media must be on a public URL.",
            "Caption links are not clickable.",
            "Feed image JPEG <= 8 MB; Reels 3 s - 15 min, <= 300 MB.",
        ),
        confidence="M",
        sources=("developers.facebook.com content publishing", "Ayrshare 2026"),
        link_placement=LinkPlacement.NONE,
        media_max_total=10,
        media_required=True,
        image_max_bytes=8 * _MB,
        video_max_bytes=300 * _MB,
        video_min_duration_s=3,
        video_max_duration_s=15 * 60,
        title_supported=False,
    ),
    ChannelRules(
        channel="threads",
        display_name="Threads",
        title_max=None,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=False,
        body_max=500,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=10,
        media_max_videos=10,
        mix_images_video=True,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(
            RateLimit("post", 250, _DAY, "account", "rolling 24 h"),
            RateLimit("reply", 1000, _DAY, "account", "rolling 24 h"),
        ),
        notes=("<= 5 links per post (one source).", "Carousel size not verified; 10 used."),
        confidence="M",
        sources=("developers.facebook.com/docs/threads/overview",),
        media_max_total=10,
        title_supported=False,
    ),
    ChannelRules(
        channel="youtube",
        display_name="YouTube",
        title_max=100,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=True,
        body_max=5000,
        body_unit=CountUnit.UTF8_BYTES,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=1,
        media_max_videos=1,
        mix_images_video=True,
        hashtag_style=HashtagStyle.SEPARATE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(RateLimit("upload", 100, _DAY, "project", "new 'video uploads' bucket"),),
        notes=(
            "Title <= 100 chars without < or >; description <= 5,000 bytes; tags <= 500 total.",
            "The image is the thumbnail (<= 2 MB).",
            "Unverified API projects upload as private until audited.",
        ),
        confidence="M",
        sources=("developers.google.com/youtube/v3/docs/videos/insert", "Zernio", "mixpost"),
        title_forbidden_chars="<>",
        hashtags_total_chars_max=500,
        media_required=True,
        video_required=True,
        image_max_bytes=2 * _MB,
        video_max_bytes=256 * 1024 * _MB,
    ),
    ChannelRules(
        channel="webhook",
        display_name="Webhook (generic)",
        title_max=None,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=False,
        body_max=None,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=None,
        media_max_videos=None,
        mix_images_video=True,
        hashtag_style=HashtagStyle.SEPARATE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(),
        notes=(_GENERIC_NOTE, "Title, body, tags, media and link are sent as JSON fields."),
        confidence="own",
        sources=(),
        link_placement=LinkPlacement.FIELD,
    ),
    ChannelRules(
        channel="rss",
        display_name="RSS feed item",
        title_max=None,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=True,
        body_max=None,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=None,
        media_max_videos=None,
        mix_images_video=True,
        hashtag_style=HashtagStyle.SEPARATE,
        hashtags_max=None,
        markup=Markup.HTML,
        rate_limits=(),
        notes=(_GENERIC_NOTE, "Tags become <category> elements; the link is the item <link>."),
        confidence="own",
        sources=(),
        link_placement=LinkPlacement.FIELD,
    ),
    ChannelRules(
        channel="email",
        display_name="E-mail newsletter",
        title_max=None,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=True,
        body_max=None,
        body_unit=CountUnit.CHARS,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=None,
        media_max_videos=None,
        mix_images_video=True,
        hashtag_style=None,
        hashtags_max=None,
        markup=Markup.HTML,
        rate_limits=(),
        notes=(_GENERIC_NOTE, "The title is the subject line; inboxes truncate after ~60."),
        confidence="own",
        sources=(),
        body_required=True,
        link_placement=LinkPlacement.FIELD,
    ),
    ChannelRules(
        channel="sandbox",
        display_name="Sandbox (test channel)",
        title_max=100,
        title_unit=CountUnit.CHARS,
        title_bytes_max=None,
        title_required=False,
        body_max=2000,
        body_unit=CountUnit.GRAPHEMES,
        body_bytes_max=None,
        body_required_url=False,
        media_max_images=4,
        media_max_videos=1,
        mix_images_video=False,
        hashtag_style=HashtagStyle.INLINE,
        hashtags_max=None,
        markup=Markup.PLAIN,
        rate_limits=(),
        notes=("Our own test channel: nothing leaves the system.",),
        confidence="own",
        sources=(),
        link_placement=LinkPlacement.FIELD,
    ),
)

RULES: dict[str, ChannelRules] = {rules.channel: rules for rules in _ALL}


def get_rules(channel: str) -> ChannelRules:
    """The rules of `channel`; raises UnknownChannel (a KeyError) naming the known channels."""
    try:
        return RULES[channel]
    except KeyError:
        raise UnknownChannel(channel, sorted(RULES)) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, RateLimit):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return value


def describe(rules: ChannelRules) -> dict[str, Any]:
    """A JSON-able view of one channel's rules (for GET /publisher/v1/channels)."""
    described = {f.name: _jsonable(getattr(rules, f.name)) for f in fields(rules)}
    described["has_title"] = rules.has_title
    return described
