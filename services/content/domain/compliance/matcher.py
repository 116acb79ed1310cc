"""One Aho-Corasick automaton over every term of a workspace, and the scan that turns its
raw hits into findings on the original text.

Overlaps are resolved leftmost-longest: the hit that starts first wins, and among hits that
start at the same place the longest wins ("最高级" beats "最高"; "最佳" beats "最"). A term
never hides a stronger one: at build time each term takes the highest severity of the terms
it contains. Allow-list phrases take part in the resolution and then suppress the terms
they cover; a term that starts inside an allowed phrase but runs past its end is still
reported ("最终极" -> 终极, although 最终 is allowed).

Built once; immutable afterwards, so one matcher may be shared by threads. (pyahocorasick's
own `iter_long` is not used: it misses hits after a failed long partial match.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import compress, repeat
from operator import itemgetter

import ahocorasick

from .model import AllowPhrase, Finding, Severity, Source, TermEntry
from .normalise import Normalised, normalise, normalise_term
from .terms import AD_LAW_TERMS, DEFAULT_ALLOW

# Payload flags: what the slow path must check for a hit.
_PLAIN, _ALLOW, _CHECK = 0, 1, 2
# Payload tuple layout: (term, category, severity, source, suggestion, flag)
_TERM, _CAT, _SEV, _SRC, _SUGG, _FLAG = range(6)
_Payload = tuple[str, str, Severity, Source, str | None, int]
# The automaton stores only `length - 1` per key: small ints are cached by CPython, so the
# hit stream allocates nothing for them (packing a payload index into the value made every
# hit allocate an int and cost ~40 % of the scan). The payload is found by key afterwards.


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class ComplianceMatcher:
    """Use `ComplianceMatcher.build(...)`; `scan(text)` returns findings in text order."""

    __slots__ = ("_automaton", "_max_len", "_payloads", "term_count")

    def __init__(
        self,
        automaton: ahocorasick.Automaton,
        payloads: dict[str, _Payload],
        max_len: int,
    ) -> None:
        self._automaton = automaton
        self._payloads = payloads  # normalised key -> payload
        self._max_len = max_len
        self.term_count = sum(1 for p in payloads.values() if p[_FLAG] != _ALLOW)

    @classmethod
    def build(
        cls,
        entries: Iterable[TermEntry],
        allow: Iterable[AllowPhrase | str] = DEFAULT_ALLOW,
    ) -> ComplianceMatcher:
        """Duplicate keys (after normalisation): an allow phrase beats a term (that is how a
        workspace switches a term off); between terms the higher severity wins, then the
        first given."""
        payloads: dict[str, _Payload] = {}
        for entry in entries:
            key = normalise_term(entry.term)
            old = payloads.get(key)
            if old is not None and old[_SEV].rank >= entry.severity.rank:
                continue
            needs_check = (
                entry.source is Source.BRAND or _is_ascii_alnum(key[0]) or _is_ascii_alnum(key[-1])
            )
            payloads[key] = (
                entry.term,
                entry.category,
                entry.severity,
                entry.source,
                entry.suggestion,
                _CHECK if needs_check else _PLAIN,
            )
        for item in allow:
            phrase = item.phrase if isinstance(item, AllowPhrase) else item
            payloads[normalise_term(phrase)] = (
                phrase,
                "",
                Severity.WARN,
                Source.AD_LAW,
                None,
                _ALLOW,
            )

        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for key in trie_insertion_order(payloads):
            automaton.add_word(key, len(key) - 1)
        automaton.make_automaton()
        _escalate_contained_severity(automaton, payloads)
        max_len = max((len(k) for k in payloads), default=1)
        return cls(automaton, payloads, max_len)

    @classmethod
    def default(cls, extra: Iterable[TermEntry] = ()) -> ComplianceMatcher:
        """Advertising Law terms plus `extra` (workspace and brand terms)."""
        return cls.build([*AD_LAW_TERMS, *extra])

    def scan(self, text: str) -> list[Finding]:
        if not text:
            return []
        norm = normalise(text)
        ntext = norm.text
        starts, ends = self._resolve(ntext)
        if not starts:
            return []
        # Everything below runs as C-level map/zip loops; only flagged hits (allow-list,
        # word boundaries, brand spelling) are looked at one by one.
        keys = map(ntext.__getitem__, map(slice, starts, ends))
        payloads = list(map(self._payloads.__getitem__, keys))
        o_starts, o_ends = norm.spans_to_original(starts, ends)
        matched = list(map(text.__getitem__, map(slice, o_starts, o_ends)))
        findings = list(
            map(
                tuple.__new__,
                repeat(Finding),
                zip(
                    map(itemgetter(_TERM), payloads),
                    matched,
                    map(itemgetter(_CAT), payloads),
                    map(itemgetter(_SEV), payloads),
                    map(itemgetter(_SRC), payloads),
                    o_starts,
                    o_ends,
                    map(itemgetter(_SUGG), payloads),
                    repeat(None),
                ),
            )
        )
        flags = list(map(itemgetter(_FLAG), payloads))
        if any(flags):
            findings = self._apply_flags(norm, starts, ends, flags, findings)
        return findings

    def _resolve(self, ntext: str) -> tuple[list[int], list[int]]:
        """Leftmost-longest selection over the hit stream (hits arrive by end index).
        Returns parallel lists of start and end (exclusive), in normalised coordinates."""
        starts: list[int] = []
        lasts: list[int] = []  # inclusive end of each kept hit
        push_s, push_l = starts.append, lasts.append
        top_s = top_l = -1
        for last, len_minus_1 in self._automaton.iter(ntext):
            s = last - len_minus_1
            if s > top_l:  # no overlap with anything kept
                push_s(s)
                push_l(last)
                top_s = s
                top_l = last
            elif s <= top_s:  # starts no later than the top and ends later: may displace
                j = len(starts) - 1
                while j > 0 and starts[j - 1] >= s:
                    j -= 1
                if j > 0 and lasts[j - 1] >= s:
                    continue  # a kept hit starting earlier overlaps it: it loses
                del starts[j:], lasts[j:]
                push_s(s)
                push_l(last)
                top_s = s
                top_l = last
            # else: the top starts earlier and overlaps it: it loses
        return starts, list(map((1).__add__, lasts))

    def _apply_flags(
        self,
        norm: Normalised,
        starts: list[int],
        ends: list[int],
        flags: list[int],
        findings: list[Finding],
    ) -> list[Finding]:
        ntext = norm.text
        keep = bytearray(b"\x01") * len(findings)
        extra: list[Finding] = []
        for i in compress(range(len(flags)), flags):
            s, e = starts[i], ends[i]
            if flags[i] == _ALLOW:
                keep[i] = 0
                straddler = self._straddler(ntext, s, e)
                if straddler is not None:
                    extra.append(self._finding(norm, *straddler))
                continue
            key = ntext[s:e]
            f = findings[i]
            if (
                (_is_ascii_alnum(key[0]) and s > 0 and _is_ascii_alnum(ntext[s - 1]))
                or (_is_ascii_alnum(key[-1]) and e < len(ntext) and _is_ascii_alnum(ntext[e]))
                or (f.source is Source.BRAND and f.matched_text == f.suggestion)
            ):
                keep[i] = 0  # part of a longer Latin word, or the brand spelled right
        kept = list(compress(findings, keep))
        if not extra:
            return kept
        # A straddler displaces the hits it overlaps that start after it (they start later).
        extra_spans = [(f.start, f.end) for f in extra]
        kept = [f for f in kept if not any(es < f.start < ee for es, ee in extra_spans)]
        return sorted([*kept, *extra], key=itemgetter(5))

    def _finding(self, norm: Normalised, s: int, e: int) -> Finding:
        p = self._payloads[norm.text[s:e]]
        o_start, o_end = norm.to_original(s, e)
        matched = norm.original[o_start:o_end]
        return Finding(p[_TERM], matched, p[_CAT], p[_SEV], p[_SRC], o_start, o_end, p[_SUGG])

    def _straddler(self, ntext: str, s: int, e: int) -> tuple[int, int] | None:
        """An allowed phrase [s, e) covers only what lies inside it: find the leftmost-longest
        term that starts inside it and ends after it ("最终极": 最终 allowed, 终极 is not)."""
        best: tuple[int, int] | None = None
        window_end = min(len(ntext), e - 1 + self._max_len)
        for last, len_minus_1 in self._automaton.iter(ntext, s + 1, window_end):
            cs, ce = last - len_minus_1, last + 1
            if not (s < cs < e < ce) or self._payloads[ntext[cs:ce]][_FLAG] == _ALLOW:
                continue
            if best is None or (cs, -ce) < (best[0], -best[1]):
                best = (cs, ce)
        return best


def trie_insertion_order(keys: Iterable[str]) -> list[str]:
    """Keys ordered so that, at every trie node, children are added most frequent first.

    pyahocorasick looks children up in insertion order, so this puts the common characters
    first (character frequency among the terms stands in for frequency in text). Measured on
    the bench: ~1.7x faster than code-point (sorted) order, and as fast as or up to 1.2x
    faster than hash-set order, whose speed varies from run to run."""
    keys = list(keys)
    freq = Counter(c for key in keys for c in key)
    rank = {c: i for i, (c, _) in enumerate(sorted(freq.items(), key=lambda kv: (-kv[1], kv[0])))}
    return sorted(keys, key=lambda key: tuple(map(rank.__getitem__, key)))


def _escalate_contained_severity(
    automaton: ahocorasick.Automaton, payloads: dict[str, _Payload]
) -> None:
    """Give each term the highest severity of any term inside it, so that leftmost-longest
    never lets a weaker long term ('最优秀', warn) hide a blocking short one ('最优')."""
    for key, p in list(payloads.items()):
        if p[_FLAG] == _ALLOW or p[_SEV] is Severity.BLOCK:
            continue
        for last, len_minus_1 in automaton.iter(key):
            inner = payloads[key[last - len_minus_1 : last + 1]]
            if inner[_FLAG] != _ALLOW and inner[_SEV] is Severity.BLOCK:
                payloads[key] = (*p[:_SEV], Severity.BLOCK, *p[_SEV + 1 :])  # type: ignore[assignment]
                break


def check_item(matcher: ComplianceMatcher, fields: Mapping[str, str]) -> list[Finding]:
    """Scan each field of an item (e.g. 'title', 'body', 'variant:weibo.body'); each finding
    carries its `field`. Offsets are within that field's text."""
    findings: list[Finding] = []
    for name, text in fields.items():
        findings.extend(f._replace(field=name) for f in matcher.scan(text or ""))
    return findings


def has_blocking(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.BLOCK for f in findings)


def count_by_severity(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts = dict.fromkeys(Severity, 0)
    for f in findings:
        counts[f.severity] += 1
    return counts
