"""Compliance checks for Chinese marketing text: Advertising Law terms, workspace and
brand terms, evasion-resistant normalisation, one Aho-Corasick automaton per workspace."""

from .matcher import (
    ComplianceMatcher,
    check_item,
    count_by_severity,
    has_blocking,
    trie_insertion_order,
)
from .model import (
    AllowPhrase,
    Category,
    Finding,
    Severity,
    Source,
    TermEntry,
    brand_terms,
)
from .normalise import Normalised, normalise, normalise_term
from .terms import AD_LAW_TERMS, DEFAULT_ALLOW

__all__ = [
    "AD_LAW_TERMS",
    "DEFAULT_ALLOW",
    "AllowPhrase",
    "Category",
    "ComplianceMatcher",
    "Finding",
    "Normalised",
    "Severity",
    "Source",
    "TermEntry",
    "brand_terms",
    "check_item",
    "count_by_severity",
    "has_blocking",
    "normalise",
    "normalise_term",
    "trie_insertion_order",
]
