"""Length functions, one per counting unit a platform uses.

Platforms do not agree on what a "character" is (see the handbook, platforms.md): Bluesky counts
grapheme clusters and UTF-8 bytes, TikTok UTF-16 code units, Weibo half-width pairs, X weighted
code points, Mastodon grapheme clusters with URLs fixed at 23. `len()` is right for none of them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from enum import StrEnum

import regex

# Good enough for http(s) links: ASCII URL characters only, so a URL written straight into CJK
# text ("https://a.cn/x了解更多") stops where the CJK starts, as twitter-text and Mastodon do.
_URL_RE = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%|]+", re.IGNORECASE)
_URL_TRAILING_PUNCT = ".,;:!?'\"]"

_GRAPHEME_RE = regex.compile(r"\X")

# A grapheme cluster that renders as an emoji: one with an emoji-presentation code point, a
# regional-indicator flag, a variation selector 16 or a keycap.
_EMOJI_CLUSTER_RE = regex.compile(r"[\p{Emoji_Presentation}\p{Regional_Indicator}\uFE0F\u20E3]")

# twitter-text config v3: code points in these ranges weigh 1, everything else weighs 2.
_X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
X_URL_LENGTH = 23
MASTODON_URL_LENGTH = 23

# Mastodon's Account::MENTION_RE: "@user@domain" counts as "@user".
_MASTODON_MENTION_RE = re.compile(
    r"(?<![/\w])@([a-z0-9_]+(?:[a-z0-9_.\-]+[a-z0-9_]+)?)(?:@[\w.\-]+\w)?", re.IGNORECASE
)


class CountUnit(StrEnum):
    """The unit a platform counts a text field in."""

    CHARS = "chars"  # Unicode code points
    GRAPHEMES = "graphemes"  # extended grapheme clusters (what a reader sees as one character)
    UTF8_BYTES = "utf8_bytes"
    UTF16_UNITS = "utf16_units"
    WEIBO_UNITS = "weibo_units"  # 字: two half-width characters are one
    X_WEIGHTED = "x_weighted"  # twitter-text v3 weighted length
    MASTODON = "mastodon"  # graphemes, URL = 23, @user@domain = @user


def find_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the http(s) URLs in `text`, without trailing sentence punctuation."""
    spans: list[tuple[int, int]] = []
    for match in _URL_RE.finditer(text):
        start, end = match.span()
        while end > start and (
            text[end - 1] in _URL_TRAILING_PUNCT
            or (text[end - 1] == ")" and text.count("(", start, end) < text.count(")", start, end))
        ):
            end -= 1
        if end - start > len("https://"):
            spans.append((start, end))
    return spans


def contains_url(text: str, url: str) -> bool:
    """True when `url` appears in `text` as a whole URL (not as the prefix of a longer one)."""
    return any(text[start:end] == url for start, end in find_urls(text))


def grapheme_clusters(text: str) -> list[str]:
    return _GRAPHEME_RE.findall(text)


def chars(text: str) -> int:
    """Unicode code points (Python's len)."""
    return len(text)


def graphemes(text: str) -> int:
    """Extended grapheme clusters: a ZWJ family, a flag or a skin-toned emoji counts 1."""
    return len(_GRAPHEME_RE.findall(text))


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    """UTF-16 code units (JavaScript's .length): astral code points such as emoji count 2."""
    return len(text.encode("utf-16-le")) // 2


def weibo_units(text: str) -> int:
    """Weibo 字: ceil(half-width / 2), where anything outside Latin-1 is full-width (2 halves).

    Follows the client convention `ceil((len + n_fullwidth) / 2)` with JavaScript's UTF-16
    `len`, so an astral emoji is two full-width units (2 字). URLs are counted as written: the
    t.cn shortening happens server-side, so this over-counts long URLs (the safe side).
    """
    halves = 0
    for char in text:
        code_point = ord(char)
        if code_point <= 0xFF:
            halves += 1
        else:
            halves += 4 if code_point > 0xFFFF else 2
    return math.ceil(halves / 2)


def _x_code_point_weight(code_point: int) -> int:
    for low, high in _X_LIGHT_RANGES:
        if low <= code_point <= high:
            return 1
    return 2


def x_weighted(text: str) -> int:
    """twitter-text v3 weighted length, in "characters" out of 280.

    NFC first (as twitter-text does); each URL counts 23; an emoji sequence (ZWJ family, flag,
    skin tone, keycap) counts as one unit of weight 2; other code points weigh 1 in the Latin
    and general-punctuation ranges, else 2 (CJK, kana, hangul...).
    """
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for start, end in [*find_urls(text), (len(text), len(text))]:
        for cluster in _GRAPHEME_RE.findall(text[position:start]):
            if _EMOJI_CLUSTER_RE.search(cluster):
                total += 2
            else:
                total += sum(_x_code_point_weight(ord(char)) for char in cluster)
        if end > start:
            total += X_URL_LENGTH
        position = end
    return total


def mastodon_length(text: str, spoiler_text: str = "") -> int:
    """Mastodon's StatusLengthValidator: graphemes of the content warning plus the text, with
    every URL counted as 23 and a remote mention `@user@domain` counted as `@user`."""
    countable: list[str] = []
    position = 0
    for start, end in find_urls(text):
        countable.append(text[position:start])
        countable.append("x" * MASTODON_URL_LENGTH)
        position = end
    countable.append(text[position:])
    flat = _MASTODON_MENTION_RE.sub(lambda m: "@" + m.group(1), "".join(countable))
    return graphemes(spoiler_text) + graphemes(flat)


_MEASURES = {
    CountUnit.CHARS: chars,
    CountUnit.GRAPHEMES: graphemes,
    CountUnit.UTF8_BYTES: utf8_bytes,
    CountUnit.UTF16_UNITS: utf16_units,
    CountUnit.WEIBO_UNITS: weibo_units,
    CountUnit.X_WEIGHTED: x_weighted,
    CountUnit.MASTODON: mastodon_length,
}


def measure(text: str, unit: CountUnit) -> int:
    """Length of `text` in `unit`."""
    return _MEASURES[CountUnit(unit)](text)
