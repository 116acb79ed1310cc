import dataclasses
import json

import pytest

from shared.platforms.counting import CountUnit
from shared.platforms.rules import (
    RULES,
    HashtagStyle,
    Markup,
    UnknownChannel,
    describe,
    get_rules,
)

REQUIRED = {
    "wechat_mp", "weibo", "douyin", "xiaohongshu", "bilibili", "x", "mastodon", "bluesky",
    "tiktok", "linkedin", "instagram", "threads", "youtube", "webhook", "rss", "email", "sandbox",
}  # fmt: skip


def test_registry_has_every_channel_keyed_by_its_name() -> None:
    assert REQUIRED <= set(RULES)
    assert all(name == rules.channel for name, rules in RULES.items())


def test_unknown_channel_is_a_key_error_listing_known_channels() -> None:
    with pytest.raises(KeyError) as raised:
        get_rules("myspace")
    error = raised.value
    assert isinstance(error, UnknownChannel)
    assert error.channel == "myspace"
    assert "myspace" in str(error) and "wechat_mp" in str(error) and "sandbox" in str(error)
    assert error.known == sorted(RULES)


def test_rules_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_rules("x").body_max = 25_000  # type: ignore[misc]


def test_key_platform_facts() -> None:
    wechat = get_rules("wechat_mp")
    assert (wechat.title_max, wechat.title_unit, wechat.title_bytes_max) == (
        32,
        CountUnit.CHARS,
        64,
    )
    assert wechat.cover_required and wechat.markup is Markup.HTML
    weibo = get_rules("weibo")
    assert (weibo.body_max, weibo.body_unit, weibo.body_required_url) == (
        140,
        CountUnit.WEIBO_UNITS,
        True,
    )
    assert weibo.hashtag_style is HashtagStyle.WEIBO and weibo.hashtags_max == 0
    assert (get_rules("x").body_max, get_rules("x").body_unit) == (280, CountUnit.X_WEIGHTED)
    bluesky = get_rules("bluesky")
    assert (bluesky.body_max, bluesky.body_unit, bluesky.body_bytes_max) == (
        300,
        CountUnit.GRAPHEMES,
        3000,
    )
    assert get_rules("tiktok").body_unit is CountUnit.UTF16_UNITS
    assert get_rules("mastodon").mix_images_video is False
    assert get_rules("xiaohongshu").hashtag_style is HashtagStyle.SEPARATE
    sandbox = get_rules("sandbox")
    assert (sandbox.title_max, sandbox.body_max, sandbox.body_unit, sandbox.media_max_images) == (
        100,
        2000,
        CountUnit.GRAPHEMES,
        4,
    )


def test_every_channel_states_confidence_and_a_consistent_title() -> None:
    for rules in RULES.values():
        assert rules.confidence in {"H", "M", "L", "own"}, rules.channel
        if not rules.has_title:
            assert rules.title_max is None and not rules.title_required, rules.channel


def test_describe_is_json_with_plain_values() -> None:
    described = describe(get_rules("weibo"))
    round_tripped = json.loads(json.dumps(described, ensure_ascii=False))
    assert round_tripped["channel"] == "weibo"
    assert round_tripped["body_unit"] == "weibo_units"
    assert round_tripped["hashtag_style"] == "#tag#"
    assert round_tripped["has_title"] is False
    assert round_tripped["rate_limits"][0] == {
        "action": "post",
        "limit": 30,
        "window_s": 3600,
        "scope": "user per app",
        "note": "test/normal level; intermediate 60",
    }
    assert all(isinstance(note, str) for note in round_tripped["notes"])


def test_describe_every_channel_serialises() -> None:
    for rules in RULES.values():
        described = json.loads(json.dumps(describe(rules)))
        assert described["markup"] in {"html", "markdown", "plain"}
        assert described["hashtag_style"] in {"#tag", "#tag#", "separate", None}
