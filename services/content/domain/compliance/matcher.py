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

from collections.abc import Iterable, Mapping
from itertools import repeat
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


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class ComplianceMatcher:
    """Use `ComplianceMatcher.build(...)`; `scan(text)` returns findings in text order."""

    __slots__ = ("_automaton", "_max_len", "_payloads", "term_count")

    def __init__(
        self, automaton: ahocorasick.Automaton, payloads: dict[str, _Payload], max_len: int
    ) -> None:
        self._automaton = automaton
        self._payloads = payloads
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
        for key in payloads:
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
        starts, ends = self._resolve(norm.text)
        if not starts:
            return []
        ntext = norm.text
        keys = list(map(ntext.__getitem__, map(slice, starts, ends)))
        payloads = list(map(self._payloads.__getitem__, keys))
        if norm.is_identity and not any(map(itemgetter(_FLAG), payloads)):
            # Fast path, all in C: plain terms and offsets equal to the original's.
            return list(
                map(
                    tuple.__new__,
                    repeat(Finding),
                    zip(
                        map(itemgetter(_TERM), payloads),
                        keys if ntext is text else map(text.__getitem__, map(slice, starts, ends)),
                        map(itemgetter(_CAT), payloads),
                        map(itemgetter(_SEV), payloads),
                        map(itemgetter(_SRC), payloads),
                        starts,
                        ends,
                        map(itemgetter(_SUGG), payloads),
                        repeat(None),
                    ),
                )
            )
        return self._findings_slow(norm, starts, ends, payloads)

    def _resolve(self, ntext: str) -> tuple[list[int], list[int]]:
        """Leftmost-longest selection over the hit stream (hits arrive by end index).
        Returns parallel lists of start and end (exclusive) in normalised coordinates."""
        starts: list[int] = []
        lasts: list[int] = []  # inclusive end index of each accepted hit
        push_s, push_l = starts.append, lasts.append
        top_s = top_l = -1
        for last, len_minus_1 in self._automaton.iter(ntext):
            s = last - len_minus_1
            if s > top_l:  # no overlap with anything accepted
                push_s(s), push_l(last)
                top_s, top_l = s, last
            elif s <= top_s:  # starts no later than the top and ends later: may displace
                j = len(starts) - 1
                while j > 0 and starts[j - 1] >= s:
                    j -= 1
                if j > 0 and lasts[j - 1] >= s:
                    continue  # an accepted hit starting earlier overlaps it: it loses
                del starts[j:], lasts[j:]
                push_s(s), push_l(last)
                top_s, top_l = s, last
            # else: the top starts earlier and overlaps it: it loses
        return starts, list(map((1).__add__, lasts))

    def _findings_slow(
        self,
        norm: Normalised,
        starts: list[int],
        ends: list[int],
        payloads: list[_Payload],
    ) -> list[Finding]:
        ntext, text = norm.text, norm.original
        hits = list(zip(starts, ends, payloads, strict=True))
        hits = self._recover_straddlers(ntext, hits)
        out: list[Finding] = []
        for s, e, p in hits:
            flag = p[_FLAG]
            if flag == _ALLOW:
                continue
            if flag == _CHECK:
                key = ntext[s:e]
                if _is_ascii_alnum(key[0]) and s > 0 and _is_ascii_alnum(ntext[s - 1]):
                    continue  # 'top1' inside 'stop1': not a word of its own
                if _is_ascii_alnum(key[-1]) and e < len(ntext) and _is_ascii_alnum(ntext[e]):
                    continue
            o_start, o_end = norm.to_original(s, e)
            matched = text[o_start:o_end]
            if p[_SRC] is Source.BRAND and matched == p[_SUGG]:
                continue  # the brand spelled correctly
            out.append(
                Finding(p[_TERM], matched, p[_CAT], p[_SEV], p[_SRC], o_start, o_end, p[_SUGG])
            )
        return out

    def _recover_straddlers(
        self, ntext: str, hits: list[tuple[int, int, _Payload]]
    ) -> list[tuple[int, int, _Payload]]:
        """An allowed phrase only covers what lies inside it: re-scan just past each allowed
        hit for a term that starts inside it and ends after it."""
        if not any(p[_FLAG] == _ALLOW for _, _, p in hits):
            return hits
        result: list[tuple[int, int, _Payload]] = []
        pending_until = -1  # hits starting before this index were displaced by a straddler
        for s, e, p in hits:
            if s < pending_until:
                continue
            result.append((s, e, p))
            if p[_FLAG] != _ALLOW:
                continue
            best: tuple[int, int] | None = None
            window_end = min(len(ntext), e + self._max_len)
            for last, len_minus_1 in self._automaton.iter(ntext, s + 1, window_end):
                cs, ce = last - len_minus_1, last + 1
                if not (s < cs < e < ce) or self._payloads[ntext[cs:ce]][_FLAG] == _ALLOW:
                    continue
                if best is None or (cs, -ce) < (best[0], -best[1]):
                    best = (cs, ce)
            if best is not None:
                cs, ce = best
                result.append((cs, ce, self._payloads[ntext[cs:ce]]))
                pending_until = ce
        return result


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
