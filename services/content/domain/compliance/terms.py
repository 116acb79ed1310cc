"""Advertising Law absolute terms (极限词) and the allow-list of common false positives.

Severity: `block` for the terms Art. 9(3) names (国家级, 最高级, 最佳) and their plain
synonyms, for Art. 9(2)-style authority claims, for the sector bans of Arts. 16-25 (cures,
guaranteed returns, guaranteed exam passes) and for 驰名商标 (Trademark Law Art. 14).
`warn` for the rest: the SAMR 2023 guide asks for a judgement in context, so these go to a
human with the span instead of being rewritten or refused.
"""

from __future__ import annotations

from .model import AllowPhrase, Category, Severity, Source, TermEntry

B, W = Severity.BLOCK, Severity.WARN

_BY_CATEGORY: dict[Category, tuple[tuple[str, Severity], ...]] = {
    Category.SUPERLATIVE: (
        ("最", W),  # alone it is only a hint; the allow-list removes 最近/最后/...
        ("最佳", B),
        ("最好", B),
        ("最优", B),
        ("最优秀", B),
        ("最强", W),
        ("最大", W),
        ("最高", W),
        ("最低", W),
        ("最新", W),
        ("最先进", W),
        ("最具", W),
        ("最便宜", W),
        ("最受欢迎", W),
        ("最流行", W),
        ("最赚", W),
        ("史上最", W),
        ("最牛", W),
    ),
    Category.RANK: (
        ("第一", W),
        ("唯一", W),
        ("首个", W),
        ("首选", W),
        ("独家", W),
        ("冠军", W),
        ("王牌", W),
        ("领袖品牌", W),
        ("领导品牌", W),
        ("首屈一指", W),
        ("独一无二", W),
        ("绝无仅有", W),
        ("无与伦比", W),
        ("第一品牌", B),
        ("销量第一", B),
        ("全网第一", B),
        ("NO.1", W),
        ("TOP1", W),
        ("TOP.1", W),
    ),
    Category.AUTHORITY: (
        ("国家级", B),
        ("世界级", B),
        ("全球级", B),
        ("宇宙级", B),
        ("最高级", B),
        ("顶级", B),
        ("顶尖", W),
        ("至尊", W),
        ("极致", W),
        ("终极", W),
        ("巅峰", W),
        ("权威", W),
        ("专家推荐", W),
        ("全球领先", W),
        ("全国领先", W),
        ("国家免检", B),
        ("驰名商标", B),
        ("特供", B),
        ("专供", B),
        ("国家机关推荐", B),
        ("领导人推荐", B),
    ),
    Category.ABSOLUTE_PROMISE: (
        ("绝对", W),
        ("100%", W),
        ("百分百", W),
        ("完美", W),
        ("万能", W),
        ("永久", W),
        ("史无前例", W),
        ("空前绝后", W),
        ("前无古人", W),
        ("独一份", W),
    ),
    Category.PRICE: (
        ("全网最低", W),
        ("全网最低价", W),
        ("史上最低价", W),
        ("最低价", W),
        ("跳楼价", W),
        ("清仓价", W),
    ),
    Category.SECTOR_MEDICAL: (
        ("治愈", B),
        ("根治", B),
        ("药到病除", B),
        ("包治", B),
        ("无副作用", B),
        ("疗效", W),
        ("治疗", W),
        ("祛病", W),
        ("防癌", B),
        ("抗癌", B),
    ),
    Category.SECTOR_INVESTMENT: (
        ("稳赚", B),
        ("稳赚不赔", B),
        ("保本", B),
        ("零风险", B),
        ("无风险", B),
        ("保收益", B),
        ("保证收益", B),
        ("高回报", W),
        ("躺赚", W),
    ),
    Category.SECTOR_EDUCATION: (
        ("包过", B),
        ("保证通过", B),
        ("保录取", B),
        ("不过退款", W),
        ("通过率100%", B),
        ("提分保证", B),
    ),
    Category.CONSUMER_TERMS: (
        # "本活动最终解释权归本公司所有" is an unfair standard term; the longer hit also
        # keeps the allow-listed 最终 from hiding it.
        ("最终解释权", W),
    ),
}

AD_LAW_TERMS: tuple[TermEntry, ...] = tuple(
    TermEntry(term, category, severity, Source.AD_LAW)
    for category, terms in _BY_CATEGORY.items()
    for term, severity in terms
)

# Only phrases whose everyday meaning is temporal, ordinal or technical and never a claim
# about a product. Deliberately NOT here:
#   唯一的办法 'the only way': "美白唯一的办法就是..." is exactly an absolute claim;
#   最好 'had better': also 'the best'; the context decides, so a human should look;
#   第一个 / 第一名 / 最早 / 最多: can be (and often are) rank or priority claims.
DEFAULT_ALLOW: tuple[AllowPhrase, ...] = (
    AllowPhrase("最近", "recently"),
    AllowPhrase("最后", "last, finally"),
    AllowPhrase("最终", "finally, in the end"),
    AllowPhrase("最初", "at first"),
    AllowPhrase("最起码", "at the very least"),
    AllowPhrase("第一次", "the first time"),
    AllowPhrase("第一步", "the first step"),
    AllowPhrase("第一天", "the first day"),
    AllowPhrase("第一时间", "immediately"),
    AllowPhrase("第一季度", "first quarter"),
    AllowPhrase("第一章", "chapter one"),
    AllowPhrase("第一期", "first issue / phase"),
    AllowPhrase("第一届", "the first edition (of an event)"),
    AllowPhrase("第一批", "the first batch"),
    AllowPhrase("第一眼", "at first sight"),
    AllowPhrase("唯一标识", "unique identifier (technical)"),
    AllowPhrase("绝对值", "absolute value (mathematics)"),
    AllowPhrase("顶级域名", "top-level domain"),
)
