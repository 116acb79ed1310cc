import json

import pytest

from shared.platforms.rules import UnknownChannel, get_rules
from shared.platforms.validate import Problem, ProblemCode, validate_variant

FAMILY = "👨\u200d👩\u200d👧\u200d👦"
URL = "https://ex.com/a"  # 16 half-width characters
IMAGE = {"kind": "image"}
VIDEO = {"kind": "video"}


def codes(problems: list[Problem]) -> set[ProblemCode]:
    return {problem.code for problem in problems}


# --- exact boundaries: the limit passes, one more fails ---------------------------------


@pytest.mark.parametrize(
    ("channel", "field", "ok", "too_long", "code"),
    [
        ("wechat_mp", "title", "a" * 32, "a" * 33, ProblemCode.TITLE_TOO_LONG),
        ("wechat_mp", "title", "中" * 21, "中" * 22, ProblemCode.TITLE_TOO_LONG_BYTES),
        ("x", "body", "中" * 140, "中" * 140 + "a", ProblemCode.BODY_TOO_LONG),
        ("x", "body", "中" * 139 + "ab", "中" * 139 + "abc", ProblemCode.BODY_TOO_LONG),
        ("x", "body", FAMILY * 140, FAMILY * 141, ProblemCode.BODY_TOO_LONG),
        ("mastodon", "body", FAMILY * 500, FAMILY * 501, ProblemCode.BODY_TOO_LONG),
        ("bluesky", "body", "中" * 300, "中" * 301, ProblemCode.BODY_TOO_LONG),
        # 120 families = 120 graphemes but 3000 bytes; one more is over the byte cap only
        ("bluesky", "body", FAMILY * 120, FAMILY * 121, ProblemCode.BODY_TOO_LONG_BYTES),
        ("tiktok", "body", "👍" * 1100, "👍" * 1100 + "a", ProblemCode.BODY_TOO_LONG),
        ("tiktok", "title", "a" * 90, "a" * 91, ProblemCode.TITLE_TOO_LONG),
        ("youtube", "body", "中" * 1666 + "aa", "中" * 1666 + "aaa", ProblemCode.BODY_TOO_LONG),
        ("youtube", "title", "ｙ" * 100, "ｙ" * 101, ProblemCode.TITLE_TOO_LONG),
        ("xiaohongshu", "title", "标" * 20, "标" * 21, ProblemCode.TITLE_TOO_LONG),
        ("xiaohongshu", "body", "文" * 1000, "文" * 1001, ProblemCode.BODY_TOO_LONG),
        ("bilibili", "title", "题" * 80, "题" * 81, ProblemCode.TITLE_TOO_LONG),
        ("instagram", "body", "a" * 2200, "a" * 2201, ProblemCode.BODY_TOO_LONG),
        ("linkedin", "body", "a" * 3000, "a" * 3001, ProblemCode.BODY_TOO_LONG),
        ("threads", "body", "中" * 500, "中" * 501, ProblemCode.BODY_TOO_LONG),
        ("sandbox", "title", "t" * 100, "t" * 101, ProblemCode.TITLE_TOO_LONG),
        ("sandbox", "body", FAMILY * 2000, FAMILY * 2001, ProblemCode.BODY_TOO_LONG),
    ],
)
def test_length_limit_is_inclusive(
    channel: str, field: str, ok: str, too_long: str, code: ProblemCode
) -> None:
    media = {"youtube": [VIDEO], "bilibili": [VIDEO, IMAGE]}.get(channel, [IMAGE])
    base = {"title": "标题" if get_rules(channel).has_title else None, "body": "正文"}
    assert validate_variant(channel, media=media, **{**base, field: ok}) == []
    problems = validate_variant(channel, media=media, **{**base, field: too_long})
    assert [p.code for p in problems] == [code]
    assert problems[0].field == field
    assert problems[0].actual > problems[0].limit


def test_weibo_boundary_with_required_url() -> None:
    # 131 CJK = 262 halves, " " + URL = 17 halves: 279 halves -> 140 字
    assert validate_variant("weibo", body="中" * 131 + " " + URL) == []
    problems = validate_variant("weibo", body="中" * 132 + " " + URL)
    assert [(p.code, p.limit, p.actual, p.unit) for p in problems] == [
        (ProblemCode.BODY_TOO_LONG, 140, 141, "weibo_units")
    ]


def test_problem_reports_limit_actual_and_unit() -> None:
    [problem] = validate_variant("x", body="中" * 141)
    assert (problem.limit, problem.actual, problem.unit) == (280, 282, "x_weighted")
    as_dict = problem.as_dict()
    assert as_dict["code"] == "body_too_long" and json.loads(json.dumps(as_dict)) == as_dict


# --- every problem at once ---------------------------------------------------------------


def test_reports_every_problem_not_just_the_first() -> None:
    problems = validate_variant(
        "wechat_mp",
        title="中" * 40,
        body="<p>正文</p>",
        hashtags=["新媒体"],
        media=[VIDEO],
        link="https://ex.com/" + "a" * 1100,
    )
    assert codes(problems) == {
        ProblemCode.TITLE_TOO_LONG,
        ProblemCode.TITLE_TOO_LONG_BYTES,
        ProblemCode.HASHTAGS_NOT_SUPPORTED,
        ProblemCode.TOO_MANY_VIDEOS,
        ProblemCode.COVER_REQUIRED,
        ProblemCode.LINK_TOO_LONG,
    }


def test_required_title_and_body() -> None:
    problems = validate_variant("wechat_mp", title="", body=" ", media=[IMAGE])
    assert codes(problems) == {ProblemCode.TITLE_REQUIRED, ProblemCode.BODY_REQUIRED}


def test_title_on_a_platform_without_titles() -> None:
    assert codes(validate_variant("x", title="Headline", body="text")) == {
        ProblemCode.TITLE_NOT_SUPPORTED
    }


def test_empty_post() -> None:
    assert codes(validate_variant("sandbox")) == {ProblemCode.EMPTY_POST}


# --- Weibo -------------------------------------------------------------------------------


def test_weibo_needs_a_url_and_forbids_topics() -> None:
    problems = validate_variant("weibo", body="今天聊聊 #新媒体# 运营", hashtags=["运营"])
    assert codes(problems) == {
        ProblemCode.BODY_URL_REQUIRED,
        ProblemCode.TOPIC_SYNTAX_FORBIDDEN,
        ProblemCode.HASHTAGS_TOO_MANY,
    }


def test_weibo_topic_check_ignores_language_names_and_url_fragments() -> None:
    body = "C# and F# 都可以 https://ex.com/a#top 看看"
    assert validate_variant("weibo", body=body) == []
    # anything between two free-standing '#' is a topic to Weibo
    assert codes(validate_variant("weibo", body=body + " #1 和 #2")) == {
        ProblemCode.TOPIC_SYNTAX_FORBIDDEN
    }


def test_weibo_one_image_no_video() -> None:
    problems = validate_variant("weibo", body=URL, media=[IMAGE, IMAGE, VIDEO])
    assert codes(problems) == {
        ProblemCode.TOO_MANY_IMAGES,
        ProblemCode.TOO_MANY_VIDEOS,
        ProblemCode.MEDIA_MIX_FORBIDDEN,
    }


# --- media -------------------------------------------------------------------------------


def test_x_four_photos_or_one_gif_or_one_video() -> None:
    assert validate_variant("x", body="hi", media=[IMAGE] * 4) == []
    assert codes(validate_variant("x", body="hi", media=[IMAGE] * 5)) == {
        ProblemCode.TOO_MANY_IMAGES
    }
    assert codes(validate_variant("x", body="hi", media=[IMAGE, VIDEO])) == {
        ProblemCode.MEDIA_MIX_FORBIDDEN
    }
    assert codes(validate_variant("x", body="hi", media=[{"kind": "gif"}] * 2)) == {
        ProblemCode.TOO_MANY_GIFS
    }
    assert codes(validate_variant("x", body="hi", media=[IMAGE, {"kind": "gif"}])) == {
        ProblemCode.MEDIA_MIX_FORBIDDEN
    }


def test_mastodon_gif_is_a_video_and_cannot_join_images() -> None:
    problems = validate_variant("mastodon", body="hi", media=[IMAGE, {"kind": "gif"}])
    assert codes(problems) == {ProblemCode.MEDIA_MIX_FORBIDDEN}
    assert codes(validate_variant("mastodon", body="hi", media=[IMAGE] * 5)) == {
        ProblemCode.TOO_MANY_IMAGES,
        ProblemCode.TOO_MANY_MEDIA,
    }


def test_instagram_mixes_but_caps_the_carousel() -> None:
    assert validate_variant("instagram", body="hi", media=[IMAGE] * 5 + [VIDEO] * 5) == []
    assert codes(validate_variant("instagram", body="hi", media=[IMAGE] * 6 + [VIDEO] * 5)) == {
        ProblemCode.TOO_MANY_MEDIA
    }


@pytest.mark.parametrize(
    ("channel", "item", "code"),
    [
        ("bluesky", {"kind": "image", "size_bytes": 1_000_001}, ProblemCode.MEDIA_TOO_LARGE),
        ("x", {"kind": "video", "duration_s": 140.5}, ProblemCode.VIDEO_TOO_LONG),
        ("x", {"kind": "video", "duration_s": 0.4}, ProblemCode.VIDEO_TOO_SHORT),
        ("x", {"kind": "gif", "size_bytes": 15 * 1024 * 1024 + 1}, ProblemCode.MEDIA_TOO_LARGE),
        (
            "tiktok",
            {"kind": "video", "width": 4097, "height": 2160},
            ProblemCode.VIDEO_DIMENSIONS_TOO_LARGE,
        ),
        ("sandbox", {"kind": "audio"}, ProblemCode.MEDIA_KIND_UNKNOWN),
    ],
)
def test_media_item_limits(channel: str, item: dict, code: ProblemCode) -> None:
    problems = validate_variant(channel, body="hi", media=[item])
    assert code in codes(problems)
    assert any(p.field == "media[0]" for p in problems)


@pytest.mark.parametrize(
    ("channel", "item"),
    [
        ("bluesky", {"kind": "image", "size_bytes": 1_000_000}),
        ("x", {"kind": "video", "duration_s": 140}),
        ("x", {"kind": "gif", "size_bytes": 15 * 1024 * 1024}),
        ("tiktok", {"kind": "video", "width": 4096, "height": 2160, "duration_s": 3}),
    ],
)
def test_media_item_at_the_limit_passes(channel: str, item: dict) -> None:
    assert validate_variant(channel, body="hi", media=[item]) == []


def test_required_media() -> None:
    assert codes(validate_variant("youtube", title="t", body="d", media=[IMAGE])) == {
        ProblemCode.VIDEO_REQUIRED
    }
    assert codes(validate_variant("xiaohongshu", title="t", body="d")) == {
        ProblemCode.MEDIA_REQUIRED
    }
    assert codes(validate_variant("bilibili", title="t", body="d", media=[VIDEO])) == {
        ProblemCode.COVER_REQUIRED
    }


# --- hashtags, title characters, links ---------------------------------------------------


def test_instagram_counts_listed_and_in_text_hashtags() -> None:
    body = "hello #one #two #three"
    assert (
        validate_variant("instagram", body=body, hashtags=["one", "four", "five"], media=[IMAGE])
        == []
    )
    [problem] = validate_variant(
        "instagram", body=body, hashtags=["four", "five", "six"], media=[IMAGE]
    )
    assert (problem.code, problem.limit, problem.actual) == (ProblemCode.HASHTAGS_TOO_MANY, 5, 6)


def test_inline_hashtags_cannot_hold_spaces() -> None:
    [problem] = validate_variant("x", body="hi", hashtags=["new media"])
    assert (problem.code, problem.field) == (ProblemCode.HASHTAG_INVALID, "hashtags[0]")


def test_youtube_title_characters_and_tag_budget() -> None:
    tags_ok = ["a" * 99] * 5  # 5 * 99 + 4 commas = 499
    assert validate_variant("youtube", title="ok", body="d", hashtags=tags_ok, media=[VIDEO]) == []
    problems = validate_variant(
        "youtube", title="a <b>", body="d", hashtags=["a" * 99] * 4 + ["a b" * 33], media=[VIDEO]
    )
    assert codes(problems) == {ProblemCode.TITLE_FORBIDDEN_CHARS, ProblemCode.HASHTAGS_TOO_LONG}


def test_links() -> None:
    link = "https://ex.com/post"
    assert codes(validate_variant("instagram", body="hi", media=[IMAGE], link=link)) == {
        ProblemCode.LINK_NOT_SUPPORTED
    }
    assert codes(validate_variant("x", body="hi", link=link)) == {ProblemCode.LINK_NOT_IN_BODY}
    assert validate_variant("x", body=f"hi {link}", link=link) == []
    assert codes(validate_variant("webhook", body="hi", link="not a url")) == {
        ProblemCode.LINK_INVALID
    }
    assert validate_variant("webhook", body="hi", link=link) == []


def test_unknown_channel() -> None:
    with pytest.raises(UnknownChannel):
        validate_variant("myspace", body="hi")
