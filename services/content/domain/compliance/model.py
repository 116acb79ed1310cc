"""Value types shared by the term lists, the matcher and its callers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Severity(StrEnum):
    """`block` stops the compliance stage (Advertising Law Art. 9(3) and sector bans);
    `warn` is shown to reviewers but does not stop anything."""

    WARN = "warn"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return 1 if self is Severity.BLOCK else 0


class Source(StrEnum):
    AD_LAW = "ad_law"
    WORKSPACE = "workspace"
    BRAND = "brand"


class Category(StrEnum):
    """Known categories; workspace terms may use any other string."""

    SUPERLATIVE = "superlative"
    RANK = "rank"
    AUTHORITY = "authority"
    ABSOLUTE_PROMISE = "absolute_promise"
    PRICE = "price"
    SECTOR_MEDICAL = "sector_medical"
    SECTOR_INVESTMENT = "sector_investment"
    SECTOR_EDUCATION = "sector_education"
    CONSUMER_TERMS = "consumer_terms"
    BRAND = "brand"


@dataclass(frozen=True, slots=True)
class TermEntry:
    """One forbidden or flagged term. For `source=brand`, `term` is a wrong spelling of a
    brand name and `suggestion` its correct spelling."""

    term: str
    category: str
    severity: Severity
    source: Source = Source.WORKSPACE
    suggestion: str | None = None

    def __post_init__(self) -> None:
        if not self.term.strip():
            raise ValueError("a term must not be empty")
        if self.source is Source.BRAND and not self.suggestion:
            raise ValueError(f"brand term {self.term!r} needs the correct spelling as suggestion")


@dataclass(frozen=True, slots=True)
class AllowPhrase:
    """A phrase whose matches are not findings (e.g. 最近 'recently' contains 最)."""

    phrase: str
    reason: str = ""


class Finding(NamedTuple):
    """A flagged span. `start`/`end` index the ORIGINAL text (Python str indexes, end
    exclusive), so `text[start:end] == matched_text`. `field` is set by `check_item`."""

    term: str
    matched_text: str
    category: str
    severity: Severity
    source: Source
    start: int
    end: int
    suggestion: str | None = None
    field: str | None = None


def brand_terms(correct: str, wrong_spellings: tuple[str, ...] | list[str] = ()) -> list[TermEntry]:
    """Entries that flag every spelling of a brand other than `correct`.

    Matching is case- and width-insensitive, so the correct spelling itself is registered:
    a hit is a finding unless the original text spells it exactly as `correct` (so
    'Wechat', 'WECHAT' and 'ＷｅＣｈａｔ' are flagged, 'WeChat' is not). `wrong_spellings`
    adds misspellings that differ by more than case or width (for the brand
    '微信', the misspelling '威信')."""
    spellings = [correct, *wrong_spellings]
    return [
        TermEntry(s, Category.BRAND, Severity.WARN, Source.BRAND, suggestion=correct)
        for s in spellings
    ]
