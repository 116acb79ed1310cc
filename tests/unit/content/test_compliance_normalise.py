import random

import pytest

from services.content.domain.compliance import normalise, normalise_term


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "abc123"),  # full-width -> half-width
        ("TOP1 Best", "top1 best"),  # casefold, space between Latin words kept
        ("ＮＯ．１", "no.1"),
        ("国 家 级", "国家级"),
        ("国*家*级", "国家级"),
        ("国.家.级", "国家级"),
        ("国　家　级", "国家级"),  # ideographic space
        ("国 _-~|/ 家级", "国家级"),
        ("国＊家＊级", "国家级"),  # full-width filler
        ("国·家•级", "国家级"),
        ("最\u200b佳", "最佳"),
        ("最\u200c佳\u200d", "最佳"),
        ("\ufeff最\u2060佳", "最佳"),
        ("最\u00ad佳", "最佳"),  # soft hyphen
        ("最\u0301佳", "最佳"),  # combining mark
        ("国 \u200b 家级", "国家级"),  # mixed run of filler and invisible
        ("𝐓𝐎𝐏", "top"),  # mathematical bold
        ("最，好", "最，好"),  # sentence punctuation is not filler
        ("最。好", "最。好"),
        ("a b", "a b"),  # whitespace between Latin letters stays
        ("价格 100 元", "价格 100 元"),  # ... and between CJK and digits
    ],
)
def test_normalised_text(raw: str, expected: str) -> None:
    assert normalise(raw).text == expected


def test_identity_when_nothing_changes_length() -> None:
    n = normalise("今天，天气很好。ABC")
    assert n.is_identity
    assert n.text == "今天，天气很好。abc"
    assert n.to_original(2, 5) == (2, 5)


def test_offsets_map_back_through_deletions() -> None:
    raw = "我们是 国 家 级\u200b品牌"
    n = normalise(raw)
    assert n.text == "我们是国家级品牌"
    start = n.text.index("国家级")
    o_start, o_end = n.to_original(start, start + 3)
    assert raw[o_start:o_end] == "国 家 级"
    o_start, o_end = n.to_original(start + 3, start + 5)
    assert raw[o_start:o_end] == "品牌"


def test_offsets_map_back_through_expansions() -> None:
    raw = "选㈱最佳"  # ㈱ -> "(株)": one code point becomes three
    n = normalise(raw)
    assert n.text == "选(株)最佳"
    assert n.to_original(1, 4) == (1, 2)  # the whole expansion maps to ㈱
    assert n.to_original(2, 3) == (1, 2)  # a piece of it maps to the whole code point
    assert n.to_original(4, 6) == (2, 4)
    assert raw[slice(*n.to_original(4, 6))] == "最佳"


def test_vectorised_mapping_equals_span_by_span() -> None:
    rng = random.Random(7)
    junk = [" ", "*", ".", "\u200b", "\ufeff", "\u00ad", "·"]
    for _ in range(200):
        chars = []
        for _ in range(40):
            chars.append(rng.choice("国家级最佳第一唯"))
            if rng.random() < 0.4:
                chars.append(rng.choice(junk))
        raw = "".join(chars)
        n = normalise(raw)
        spans = [(s, s + k) for s in range(len(n.text)) for k in (1, 2, 3) if s + k <= len(n.text)]
        starts, ends = [s for s, _ in spans], [e for _, e in spans]
        o_starts, o_ends = n.spans_to_original(starts, ends)
        assert list(zip(o_starts, o_ends, strict=True)) == [n.to_original(s, e) for s, e in spans]
        for (s, e), os_, oe in zip(spans, o_starts, o_ends, strict=True):
            # the original span normalises back to the normalised span
            assert normalise(raw[os_:oe]).text == n.text[s:e]


def test_normalise_term_refuses_empty() -> None:
    assert normalise_term(" 国 家 级 ") == "国家级"
    with pytest.raises(ValueError):
        normalise_term("\u200b")
