import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.content.domain.compliance import (
    AD_LAW_TERMS,
    Category,
    ComplianceMatcher,
    Severity,
    Source,
    TermEntry,
    brand_terms,
    check_item,
    count_by_severity,
    has_blocking,
)


@pytest.fixture(scope="module")
def matcher() -> ComplianceMatcher:
    return ComplianceMatcher.default(brand_terms("WeChat") + brand_terms("微信", ["威信"]))


def spans(matcher: ComplianceMatcher, text: str) -> list[tuple[str, str, int, int]]:
    return [(f.term, f.matched_text, f.start, f.end) for f in matcher.scan(text)]


@pytest.mark.parametrize(
    "evasive",
    [
        "国家级",
        "国 家 级",
        "国*家*级",
        "国.家.级",
        "国\u200b家\u200d级",
        "国　家　级",
        "国＊家＊级",
    ],
)
def test_evasive_spellings_are_found_with_original_offsets(
    matcher: ComplianceMatcher, evasive: str
) -> None:
    text = f"我们是{evasive}品牌"
    [finding] = matcher.scan(text)
    assert finding.term == "国家级"
    assert finding.category == Category.AUTHORITY
    assert finding.severity is Severity.BLOCK
    assert finding.source is Source.AD_LAW
    assert (finding.start, finding.end) == (3, 3 + len(evasive))
    assert text[finding.start : finding.end] == finding.matched_text == evasive


def test_full_width_and_case(matcher: ComplianceMatcher) -> None:
    [finding] = matcher.scan("爆款ＴＯＰ１推荐")
    assert (finding.term, finding.matched_text, finding.start, finding.end) == (
        "TOP1",
        "ＴＯＰ１",
        2,
        6,
    )
    assert [f.term for f in matcher.scan("top1 and No.1")] == ["TOP1", "NO.1"]


def test_latin_terms_need_word_boundaries(matcher: ComplianceMatcher) -> None:
    assert matcher.scan("STOP1 TOP10") == []
    assert [f.matched_text for f in matcher.scan("TOP1产品")] == ["TOP1"]


def test_allow_list_removes_common_false_positives(matcher: ComplianceMatcher) -> None:
    assert matcher.scan("最近很忙，最后一天，最终结果，第一次见面，第一步，第一天") == []
    assert spans(matcher, "最近最佳") == [("最佳", "最佳", 2, 4)]
    assert spans(matcher, "第一次就是第一") == [("第一", "第一", 5, 7)]


def test_only_the_only_way_is_still_a_claim(matcher: ComplianceMatcher) -> None:
    # 唯一的办法 is deliberately not allow-listed: in an ad it is an absolute claim.
    assert spans(matcher, "美白唯一的办法") == [("唯一", "唯一", 2, 4)]


def test_term_running_past_an_allowed_phrase_is_reported(matcher: ComplianceMatcher) -> None:
    assert spans(matcher, "最终极的体验") == [("终极", "终极", 1, 3)]


def test_longest_match_wins_within_an_overlap(matcher: ComplianceMatcher) -> None:
    [f] = matcher.scan("最高级的享受")
    assert (f.term, f.category, f.severity) == ("最高级", Category.AUTHORITY, Severity.BLOCK)
    [f] = matcher.scan("本活动最终解释权归本公司所有")  # longer than the allowed 最终
    assert (f.term, f.category, f.start, f.end) == ("最终解释权", Category.CONSUMER_TERMS, 3, 8)


@pytest.mark.parametrize(
    ("text", "term", "category", "severity"),
    [
        ("稳赚不赔的理财", "稳赚不赔", Category.SECTOR_INVESTMENT, Severity.BLOCK),
        ("保本理财", "保本", Category.SECTOR_INVESTMENT, Severity.BLOCK),
        ("考试包过", "包过", Category.SECTOR_EDUCATION, Severity.BLOCK),
        ("三天治愈", "治愈", Category.SECTOR_MEDICAL, Severity.BLOCK),
        ("全网最低价", "全网最低价", Category.PRICE, Severity.WARN),
        ("独家配方", "独家", Category.RANK, Severity.WARN),
        ("最佳选择", "最佳", Category.SUPERLATIVE, Severity.BLOCK),
        ("百分百满意", "百分百", Category.ABSOLUTE_PROMISE, Severity.WARN),
    ],
)
def test_categories_and_severity(
    matcher: ComplianceMatcher, text: str, term: str, category: Category, severity: Severity
) -> None:
    [f] = matcher.scan(text)
    assert (f.term, f.category, f.severity) == (term, category, severity)


def test_a_longer_weaker_term_takes_the_severity_of_a_blocking_one_inside() -> None:
    m = ComplianceMatcher.build(
        [
            TermEntry("最佳", "superlative", Severity.BLOCK, Source.AD_LAW),
            TermEntry("最佳拍档", "slogan", Severity.WARN),
        ]
    )
    [f] = m.scan("我们是最佳拍档")
    assert (f.term, f.category, f.severity) == ("最佳拍档", "slogan", Severity.BLOCK)


def test_brand_spellings(matcher: ComplianceMatcher) -> None:
    found = matcher.scan("打开Wechat或WeChat或ＷＥＣＨＡＴ，关注威信和微信")
    assert [(f.matched_text, f.suggestion, f.source) for f in found] == [
        ("Wechat", "WeChat", Source.BRAND),
        ("ＷＥＣＨＡＴ", "WeChat", Source.BRAND),
        ("威信", "微信", Source.BRAND),
    ]
    assert all(f.category == Category.BRAND for f in found)


def test_brand_entry_needs_the_correct_spelling() -> None:
    with pytest.raises(ValueError):
        TermEntry("Wechat", Category.BRAND, Severity.WARN, Source.BRAND)
    with pytest.raises(ValueError):
        TermEntry("  ", "x", Severity.WARN)


def test_allow_phrase_switches_a_term_off_and_higher_severity_wins() -> None:
    m = ComplianceMatcher.build([TermEntry("最新", "superlative", Severity.WARN)], allow=["最新"])
    assert m.scan("最新款") == []
    m = ComplianceMatcher.build(
        [
            TermEntry("爆款", "ws", Severity.WARN),
            TermEntry("爆 款", "ws-strict", Severity.BLOCK),  # same key after normalisation
            TermEntry("爆款", "ws-late", Severity.WARN),
        ],
        allow=(),
    )
    [f] = m.scan("今日爆款")
    assert (f.term, f.category, f.severity) == ("爆 款", "ws-strict", Severity.BLOCK)


def test_check_item_tags_each_finding_with_its_field(matcher: ComplianceMatcher) -> None:
    findings = check_item(
        matcher,
        {
            "title": "最佳新品",
            "body": "最近上新，国 家 级工艺",
            "variant:weibo.body": "",
            "x": "平常",
        },
    )
    assert [(f.field, f.term, f.start, f.end) for f in findings] == [
        ("title", "最佳", 0, 2),
        ("body", "国家级", 5, 10),
    ]
    assert has_blocking(findings)
    assert count_by_severity(findings) == {Severity.BLOCK: 2, Severity.WARN: 0}
    assert not has_blocking(matcher.scan("独家配方"))


def _leftmost_longest(text: str, words: set[str]) -> list[tuple[int, int]]:
    out, i, longest = [], 0, max(map(len, words))
    while i < len(text):
        for n in range(min(longest, len(text) - i), 0, -1):
            if text[i : i + n] in words:
                out.append((i, i + n))
                i += n
                break
        else:
            i += 1
    return out


def test_resolution_is_leftmost_longest_against_brute_force() -> None:
    rng = random.Random(11)
    alphabet = "甲乙丙"
    for _ in range(2000):
        words = {
            "".join(rng.choices(alphabet, k=rng.randint(1, 4))) for _ in range(rng.randint(1, 6))
        }
        m = ComplianceMatcher.build([TermEntry(w, "t", Severity.WARN) for w in words], allow=())
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 14)))
        assert [(f.start, f.end) for f in m.scan(text)] == _leftmost_longest(text, words), (
            words,
            text,
        )


def test_findings_always_point_at_the_original_text(matcher: ComplianceMatcher) -> None:
    rng = random.Random(3)
    pieces = [
        "国家级",
        "最佳",
        "最近",
        "第一",
        "ＴＯＰ１",
        "平常",
        "，",
        " ",
        "*",
        "\u200b",
        "㈱",
        "😀",
    ]
    for _ in range(300):
        text = "".join(rng.choices(pieces, k=12))
        for f in matcher.scan(text):
            assert text[f.start : f.end] == f.matched_text


def test_shared_matcher_gives_the_same_answer_in_threads(matcher: ComplianceMatcher) -> None:
    texts = [f"第{i}篇：国 家 级最佳，最近第一" * 20 for i in range(40)]
    expected = [matcher.scan(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(matcher.scan, texts)) == expected


def test_ad_law_list_has_the_statute_terms_as_blocking() -> None:
    by_term = {e.term: e for e in AD_LAW_TERMS}
    for term in ("国家级", "最高级", "最佳"):
        assert by_term[term].severity is Severity.BLOCK
    assert by_term["最"].severity is Severity.WARN
