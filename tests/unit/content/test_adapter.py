import pytest

from services.content.domain.adapter import (
    MasterContent,
    draft_variant,
    format_hashtags,
)
from shared.platforms.counting import find_urls, measure, utf8_bytes
from shared.platforms.rules import RULES, HashtagStyle, UnknownChannel, get_rules
from shared.platforms.text import ELLIPSIS
from shared.platforms.validate import validate_variant

FAMILY = "👨\u200d👩\u200d👧\u200d👦"
LINK = "https://example.com/articles/2024/new-media-ops"
PARAGRAPH = (
    f"新媒体运营需要一套完整的流程{FAMILY}，从策划到创作再到分发。"
    "我们在每个平台上都要遵守不同的规则🇨🇳！"
    f"详情请看 {LINK}?utm_source=feed 了解更多。"
    "Emoji 👍🏽 and English text mixed in, with full-width ＡＢＣ characters. "
)
LONG_HTML = "<section>" + "".join(
    f"<h2>第{i}节 #话题{i}#</h2><p>{PARAGRAPH * 3}</p>" for i in range(60)
) + "</section>"  # fmt: skip
MEDIA = (
    {"kind": "image", "role": "cover", "size_bytes": 200_000},
    {"kind": "video", "duration_s": 60, "size_bytes": 20_000_000},
    {"kind": "gif", "size_bytes": 1_000_000},
    *({"kind": "image", "size_bytes": 300_000} for _ in range(25)),
)
LONG_MASTER = MasterContent(
    title=f"新媒体运营全流程指南：从策划、创作、分发到数据分析与优化的完整实践{FAMILY}<v2>",
    body=LONG_HTML,
    summary=PARAGRAPH * 4,
    tags=("新媒体", "运营 技巧", "AI", "增长", "内容", "数据", "New Media", "#已带井号"),
    media=MEDIA,
    link=LINK,
)


def problems_of(draft) -> list:
    return validate_variant(
        draft.channel,
        title=draft.title,
        body=draft.body,
        hashtags=draft.hashtags,
        media=draft.media,
        link=draft.link,
    )


@pytest.mark.parametrize("channel", sorted(RULES))
def test_long_html_master_passes_validation_everywhere(channel: str) -> None:
    draft = draft_variant(channel, LONG_MASTER)
    assert problems_of(draft) == []
    assert draft.notes, "the adapter must say what it changed"


@pytest.mark.parametrize("channel", sorted(RULES))
def test_long_plain_master_without_summary_passes_everywhere(channel: str) -> None:
    master = MasterContent(
        title="标题" * 60,
        body=("\n\n".join([PARAGRAPH * 5] * 30)) + "#话题#",
        tags=tuple(f"标签{i}" for i in range(40)),
        media=MEDIA,
        link=LINK,
    )
    draft = draft_variant(channel, master)
    assert draft.problems() == []


@pytest.mark.parametrize("channel", sorted(RULES))
def test_short_master_is_kept_whole(channel: str) -> None:
    master = {
        "title": "短标题",
        "body": "一句话。",
        "tags": ["运营"],
        "media": [{"kind": "image"}, {"kind": "video"}],
        "link": LINK,
    }
    draft = draft_variant(channel, master)
    assert draft.problems() == []
    assert "一句话。" in draft.body
    assert ELLIPSIS not in draft.body
    assert not any("cut" in note for note in draft.notes)


def test_x_strips_html_writes_hashtags_and_link_within_280() -> None:
    draft = draft_variant("x", LONG_MASTER)
    assert "<" not in draft.body and ">" not in draft.body
    assert measure(draft.body, get_rules("x").body_unit) <= 280
    assert draft.body.startswith("新媒体运营全流程指南")  # the title leads: X has no title
    assert draft.title is None and draft.link is None
    assert any(draft.body[s:e] == LINK for s, e in find_urls(draft.body))
    assert "#运营技巧" in draft.body and "#NewMedia" in draft.body and "#已带井号" in draft.body
    assert [m["kind"] for m in draft.media] == ["image"] * 4
    assert any("cannot mix" in note for note in draft.notes)


def test_weibo_drops_topics_and_appends_the_required_link() -> None:
    draft = draft_variant("weibo", LONG_MASTER)
    assert draft.hashtags == []
    assert "#" not in draft.body.replace(LINK, "")
    assert draft.body.rstrip().endswith(LINK)
    assert measure(draft.body, get_rules("weibo").body_unit) <= 140
    assert [m["kind"] for m in draft.media] == ["image"]
    assert draft.media[0]["role"] == "cover"


def test_weibo_takes_the_first_url_of_the_text_when_no_link_is_given() -> None:
    draft = draft_variant("weibo", {"body": f"看这里 {LINK}/x 的内容。" + "很长的正文。" * 40})
    assert draft.problems() == []
    assert f"{LINK}/x" in draft.body
    assert any("first URL" in note for note in draft.notes)


def test_weibo_without_any_url_says_so() -> None:
    draft = draft_variant("weibo", {"body": "没有链接。"})
    assert [p.code.value for p in draft.problems()] == ["body_url_required"]
    assert any("requires a URL" in note for note in draft.notes)


def test_cut_at_sentence_end_has_no_ellipsis() -> None:
    body = "".join(f"这是第{i}句话，内容适中。" for i in range(200))
    draft = draft_variant("bluesky", {"body": body})
    assert draft.body.endswith("。")
    assert ELLIPSIS not in draft.body
    assert any("sentence end" in note for note in draft.notes)


def test_cut_mid_sentence_appends_ellipsis() -> None:
    body = "一个没有标点的超长句子" * 100
    draft = draft_variant("mastodon", {"body": body, "tags": ["长文"]})
    assert draft.problems() == []
    text, tags = draft.body.split("\n\n")
    assert text.endswith(ELLIPSIS) and tags == "#长文"
    assert measure(draft.body, get_rules("mastodon").body_unit) == 500
    assert any("mid-sentence" in note for note in draft.notes)


def test_wechat_article_wraps_plain_text_and_fits_title_in_chars_and_bytes() -> None:
    master = MasterContent(
        title="这是一个非常非常长的公众号文章标题，用来测试三十二个字和六十四字节的双重限制",
        body="第一段 <不是标签> & 符号。\n\n第二段。",
        media=({"kind": "image", "role": "cover"}, {"kind": "video"}),
        tags=("运营",),
        link=LINK,
    )
    draft = draft_variant("wechat_mp", master)
    assert draft.problems() == []
    assert draft.body == "<p>第一段 &lt;不是标签&gt; &amp; 符号。</p><p>第二段。</p>"
    assert len(draft.title) <= 32 and utf8_bytes(draft.title) <= 64
    assert draft.title.endswith(ELLIPSIS)
    assert draft.link == LINK and draft.hashtags == []
    assert [m["kind"] for m in draft.media] == ["image"]


def test_wechat_long_article_is_cut_at_block_ends_with_html_counted() -> None:
    draft = draft_variant("wechat_mp", LONG_MASTER)
    assert len(draft.body) <= 19_999
    assert draft.body.startswith("<section>") and draft.body.endswith("</p></section>")
    assert ELLIPSIS not in draft.body


def test_xiaohongshu_keeps_topics_separate_and_drops_links() -> None:
    draft = draft_variant("xiaohongshu", LONG_MASTER)
    assert "#" not in draft.body.replace("#话题", "")
    assert draft.hashtags[:3] == ["新媒体", "运营 技巧", "AI"]
    assert draft.link is None and LINK not in draft.body
    assert len(draft.title) <= 20
    # a GIF counts as an image on Xiaohongshu; the video cannot join images
    assert len(draft.media) == 18 and {m["kind"] for m in draft.media} == {"image", "gif"}
    assert any("URL" in note for note in draft.notes)


def test_instagram_caps_listed_and_in_text_hashtags_at_five() -> None:
    master = {
        "body": "Launch day #one #two #three #four",
        "tags": ["five", "six", "seven"],
        "media": [{"kind": "image"}],
    }
    draft = draft_variant("instagram", master)
    assert draft.problems() == []
    assert draft.hashtags == ["five", "six", "seven"]
    assert draft.body == "Launch day #one #two three four\n\n#five #six #seven"


def test_youtube_keeps_video_and_thumbnail_and_cleans_title() -> None:
    draft = draft_variant(
        "youtube",
        {
            "title": "Tips > tricks",
            "body": "desc",
            "media": [{"kind": "video"}] + [{"kind": "image"}] * 3,
        },
    )
    assert draft.problems() == []
    assert draft.title == "Tips tricks"
    assert any("removed characters" in note for note in draft.notes)
    assert sorted(m["kind"] for m in draft.media) == ["image", "video"]


def test_oversized_media_is_dropped_with_a_note() -> None:
    master = {
        "body": "hi",
        "media": [{"kind": "image", "size_bytes": 2_000_000}, {"kind": "image"}],
    }
    draft = draft_variant("bluesky", master)
    assert draft.media == [{"kind": "image"}]
    assert any("1000000" in note for note in draft.notes)


def test_missing_cover_is_reported_not_invented() -> None:
    draft = draft_variant("wechat_mp", {"title": "标题", "body": "正文"})
    assert [p.code.value for p in draft.problems()] == ["cover_required"]
    assert any("cover" in note for note in draft.notes)


def test_format_hashtags_per_style() -> None:
    assert format_hashtags(["a", "b"], HashtagStyle.INLINE) == "#a #b"
    assert format_hashtags(["话题", "运营"], HashtagStyle.WEIBO) == "#话题##运营#"
    assert format_hashtags(["a"], HashtagStyle.SEPARATE) == ""


def test_as_dict_and_unknown_channel() -> None:
    draft = draft_variant("sandbox", {"title": "t", "body": "b", "tags": ["x"]})
    assert draft.as_dict() == {
        "channel": "sandbox",
        "title": "t",
        "body": "b\n\n#x",
        "hashtags": ["x"],
        "media": [],
        "link": None,
        "notes": ["hashtags: written into the text as #tag"],
    }
    with pytest.raises(UnknownChannel):
        draft_variant("myspace", {"body": "b"})
