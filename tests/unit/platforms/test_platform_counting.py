import pytest

from shared.platforms.counting import (
    CountUnit,
    chars,
    contains_url,
    find_urls,
    graphemes,
    mastodon_length,
    measure,
    utf8_bytes,
    utf16_units,
    weibo_units,
    x_weighted,
)

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 4 emoji joined by 3 ZWJ
FLAG_CN = "🇨🇳"
THUMB_SKIN = "👍🏽"
E_COMBINING = "e\u0301"  # e + combining acute
LONG_URL = "https://example.com/a/very/long/path/that/is/much/longer/than/23?x=1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abc", 3),
        ("中文字", 3),
        ("ＡＢＣ", 3),
        (FAMILY, 1),
        (FLAG_CN + "🇺🇸", 2),
        (THUMB_SKIN, 1),
        (E_COMBINING, 1),
        ("1\ufe0f\u20e3", 1),
    ],
)
def test_graphemes_count_what_a_reader_sees(text: str, expected: int) -> None:
    assert graphemes(text) == expected


def test_code_points_differ_from_graphemes() -> None:
    assert chars(FAMILY) == 7
    assert chars(E_COMBINING) == 2
    assert chars(THUMB_SKIN) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a", 1), ("é", 2), ("中", 3), ("ＡＢＣ", 9), ("👍", 4), (FAMILY, 4 * 4 + 3 * 3)],
)
def test_utf8_bytes(text: str, expected: int) -> None:
    assert utf8_bytes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a", 1), ("中", 1), ("👍", 2), (THUMB_SKIN, 4), (FLAG_CN, 4), (FAMILY, 4 * 2 + 3)],
)
def test_utf16_units_count_surrogate_pairs(text: str, expected: int) -> None:
    assert utf16_units(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", 1),  # one half-width rounds up to one 字
        ("ab", 1),
        ("abc", 2),
        ("中", 1),
        ("中a", 2),
        ("ＡＢＣ", 3),  # full-width letters are full-width
        ("👍", 2),  # astral: two UTF-16 units, both full-width
        ("中" * 140, 140),
        ("a" * 280, 140),
        ("a" * 281, 141),
    ],
)
def test_weibo_units_two_half_width_make_one(text: str, expected: int) -> None:
    assert weibo_units(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 280, 280),
        ("中" * 140, 280),
        ("中" * 141, 282),
        ("한글", 4),
        ("ＡＢＣ", 6),  # full-width forms are outside the weight-1 ranges
        (LONG_URL, 23),
        ("hello " + LONG_URL, 6 + 23),
        ("see https://x.io", 4 + 23),  # short URLs count 23 too
        (FAMILY, 2),
        (FLAG_CN, 2),
        (THUMB_SKIN, 2),
        ("1\ufe0f\u20e3", 2),  # keycap sequence
        ("©", 1),  # text-style copyright sign is Latin-1
        ("\u201cq\u201d", 3),  # curly quotes are in U+2010-201F
        ("\u2026", 2),  # ellipsis U+2026 is outside the light ranges
        (E_COMBINING, 1),  # NFC first: e + acute becomes one é
    ],
)
def test_x_weighted_follows_twitter_text_v3(text: str, expected: int) -> None:
    assert x_weighted(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x" * 500, 500),
        (LONG_URL, 23),
        ("read " + LONG_URL + " now", 5 + 23 + 4),
        ("@alice@example.social hi", len("@alice hi")),
        ("@bob hi", 7),
        ("mail a@b.com", 12),  # an e-mail address is not a mention
        (FAMILY * 3, 3),
        ("中文" + FLAG_CN, 3),
    ],
)
def test_mastodon_length(text: str, expected: int) -> None:
    assert mastodon_length(text) == expected


def test_mastodon_content_warning_counts_too() -> None:
    assert mastodon_length("body", spoiler_text="CW " + FAMILY) == 4 + 4


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("see https://a.com/x.", ["https://a.com/x"]),
        ("详情 https://a.cn/x了解更多", ["https://a.cn/x"]),
        ("(https://a.com/x)", ["https://a.com/x"]),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("http://a.com, https://b.org/?q=1!", ["http://a.com", "https://b.org/?q=1"]),
        ("no link here, ftp://x.org or https://", []),
    ],
)
def test_find_urls(text: str, urls: list[str]) -> None:
    assert [text[start:end] for start, end in find_urls(text)] == urls


def test_contains_url_needs_the_whole_url() -> None:
    assert contains_url("go https://a.com/x now", "https://a.com/x")
    assert not contains_url("go https://a.com/x?utm=1 now", "https://a.com/x")


@pytest.mark.parametrize("unit", list(CountUnit))
def test_measure_dispatches_to_the_unit_function(unit: CountUnit) -> None:
    text = "中 " + FAMILY + " https://example.com/p ＡＢＣ"
    expected = {
        CountUnit.CHARS: chars,
        CountUnit.GRAPHEMES: graphemes,
        CountUnit.UTF8_BYTES: utf8_bytes,
        CountUnit.UTF16_UNITS: utf16_units,
        CountUnit.WEIBO_UNITS: weibo_units,
        CountUnit.X_WEIGHTED: x_weighted,
        CountUnit.MASTODON: mastodon_length,
    }[unit](text)
    assert measure(text, unit) == expected
    assert measure(text, unit.value) == expected
