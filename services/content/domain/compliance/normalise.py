"""Text normalisation before matching, with an exact map back to the original offsets.

Per code point: NFKC (full-width -> half-width, circled digits, compatibility ideographs)
then casefold. Invisible characters (zero-width, joiners, bidi controls, soft hyphen,
variation selectors, combining marks) are dropped everywhere. Whitespace and filler
punctuation (* . · _ - ~ | / ...) are dropped only when they sit between two CJK
characters, which is how filters are dodged ("国 家 级", "国*家*级", "国.家.级"). Sentence
punctuation (，。！？；：、 and brackets) is kept, so clauses are not glued into false hits.

Speed: one `str.translate` for the 1:1 mappings (offsets unchanged; skipped when a regex
finds nothing to fold), then one regex scan for the rare characters that change the length;
when it finds nothing, the offset map is the identity and costs nothing.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from itertools import repeat
from operator import add, itemgetter, sub

CJK_RANGES = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han, Ext A, compatibility
    "\uac00-\ud7af"  # Hangul syllables
    "\U00020000-\U0003134f"  # Han Ext B-G
)
INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"  # combining marks
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef"  # tags, variation selectors supplement
)
# After NFKC, full-width forms of these are already ASCII.
FILLER_PUNCT = "*.·•・‧∙⋅…‥_\\-~|/\\\\+=^`'\"#@&\u2010-\u2015\u301c"

# Full-width sentence punctuation is left alone: no term contains it, and then plain
# Chinese text (CJK + ，。！？) needs no translate pass at all. U+3000 is whitespace anyway.
KEPT_AS_IS = frozenset("，！？：；（）\u3000")

_CJK_CHAR = re.compile(f"[{CJK_RANGES}]")
_INVISIBLE_RUN = re.compile(f"[{INVISIBLE}]+")
_SUPPLEMENTARY_RANGES = (
    range(0x1D400, 0x1D800),  # mathematical alphanumerics (𝐀𝐁𝐂 evasion)
    range(0x1F100, 0x1F200),  # enclosed alphanumeric supplement
    range(0x2F800, 0x2FA20),  # CJK compatibility ideographs supplement
)


def _fold_char(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch).casefold()
    return unicodedata.normalize("NFKC", folded).casefold()


@dataclass(frozen=True, slots=True)
class _Tables:
    one_to_one: list[int | str]  # BMP translate table: identity ints or 1-char strings
    foldable: re.Pattern[str]  # any code point that `one_to_one` changes
    expanding: dict[str, str]  # code points whose fold changes the length
    special: re.Pattern[str]  # runs of filler, invisible or expanding code points
    filler: re.Pattern[str]  # a run of filler or invisible code points only


@cache
def _tables() -> _Tables:
    """Built once per process (about 0.1 s) and never mutated."""
    table: list[int | str] = list(range(0x10000))
    expanding: dict[str, str] = {}
    filler_like: list[str] = []
    filler_class = re.compile(f"[\\s{FILLER_PUNCT}]")
    code_points = [*range(0xD800), *range(0xE000, 0x10000)]
    code_points += [cp for r in _SUPPLEMENTARY_RANGES for cp in r]
    for cp in code_points:
        ch = chr(cp)
        folded = _fold_char(ch)
        if folded == ch or ch in KEPT_AS_IS:
            continue
        if folded and all(filler_class.match(c) for c in folded) and len(folded) > 1:
            filler_like.append(ch)  # e.g. '…' -> '...': treat as one filler char
        elif len(folded) == 1 and cp < 0x10000:
            table[cp] = folded
        else:
            expanding[ch] = folded
    # Only BMP code points listed one by one: a class that lists astral code points makes
    # the regex engine test them linearly (200x slower); those go in as whole ranges.
    expand_class = "".join(re.escape(c) for c in expanding if ord(c) < 0x10000)
    expand_class += "".join(f"{chr(r.start)}-{chr(r.stop - 1)}" for r in _SUPPLEMENTARY_RANGES)
    extra_filler = "".join(re.escape(c) for c in filler_like)
    # One character class, so the regex engine can skip ordinary text at C speed.
    special = re.compile(f"[\\s{FILLER_PUNCT}{extra_filler}{INVISIBLE}{expand_class}]+")
    filler = re.compile(f"[\\s{FILLER_PUNCT}{extra_filler}{INVISIBLE}]+")
    changed = "".join(re.escape(chr(cp)) for cp in range(0x10000) if table[cp] != cp)
    return _Tables(table, re.compile(f"[{changed}]"), expanding, special, filler)


@dataclass(frozen=True, slots=True)
class Normalised:
    """The normalised text and the map back to `original`.

    The map is a list of segments in normalised order: a copy segment maps 1:1 (its
    `orig_len` is -1), a replacement segment (an expanded code point) maps as a whole.
    Deleted characters have no segment. No segments means the identity map."""

    original: str
    text: str
    seg_norm_start: tuple[int, ...] = ()
    seg_orig_start: tuple[int, ...] = ()
    seg_orig_len: tuple[int, ...] = ()

    @property
    def is_identity(self) -> bool:
        return not self.seg_norm_start

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised span [start, end) to the original span (end exclusive)."""
        if not self.seg_norm_start:
            return start, end
        ns, os_, ol = self.seg_norm_start, self.seg_orig_start, self.seg_orig_len
        k = bisect_right(ns, start) - 1
        o_start = os_[k] + (start - ns[k]) if ol[k] < 0 else os_[k]
        last = end - 1
        k = bisect_right(ns, last) - 1
        o_end = os_[k] + (last - ns[k]) + 1 if ol[k] < 0 else os_[k] + ol[k]
        return o_start, o_end

    def spans_to_original(self, starts: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
        """`to_original` for many spans at once, in C-level loops when no code point was
        expanded (only copy segments: the shift is a per-segment constant)."""
        if not self.seg_norm_start:
            return starts, ends
        if max(self.seg_orig_len) >= 0:  # an expansion: map span by span
            pairs = list(map(self.to_original, starts, ends))
            return list(map(itemgetter(0), pairs)), list(map(itemgetter(1), pairs))
        ns = self.seg_norm_start
        shift = (0, *map(sub, self.seg_orig_start, ns))  # indexed by bisect_right(ns, i)
        o_starts = list(
            map(add, starts, map(shift.__getitem__, map(bisect_right, repeat(ns), starts)))
        )
        lasts = map((-1).__add__, ends)
        o_ends = list(map(add, ends, map(shift.__getitem__, map(bisect_right, repeat(ns), lasts))))
        return o_starts, o_ends


def _is_cjk(ch: str) -> bool:
    return _CJK_CHAR.match(ch) is not None


def normalise(text: str) -> Normalised:
    tables = _tables()
    folded = text.translate(tables.one_to_one) if tables.foldable.search(text) else text
    edits: list[tuple[int, int, str]] = []  # (orig_pos, orig_len, replacement)
    for m in tables.special.finditer(folded):
        start, end = m.span()
        run = m.group()
        if not tables.filler.fullmatch(run):
            _split_run(folded, start, run, tables, edits)
        else:
            _filler_run(folded, start, end, run, edits)
    if not edits:
        return Normalised(text, folded)
    return _apply_edits(text, folded, edits)


def _filler_run(
    folded: str, start: int, end: int, run: str, edits: list[tuple[int, int, str]]
) -> None:
    if 0 < start and end < len(folded) and _is_cjk(folded[start - 1]) and _is_cjk(folded[end]):
        edits.append((start, end - start, ""))  # filler between two CJK chars: drop it all
        return
    for inv in _INVISIBLE_RUN.finditer(run):  # elsewhere only invisible chars go
        edits.append((start + inv.start(), inv.end() - inv.start(), ""))


def _split_run(
    folded: str, start: int, run: str, tables: _Tables, edits: list[tuple[int, int, str]]
) -> None:
    """A run that mixes filler with expanding code points (replaced one by one) or with
    unassigned astral code points (kept)."""
    piece_start = start
    for i, ch in enumerate(run, start):
        if tables.filler.fullmatch(ch):
            continue
        if piece_start < i:
            _filler_run(folded, piece_start, i, folded[piece_start:i], edits)
        if ch in tables.expanding:
            edits.append((i, 1, tables.expanding[ch]))
        piece_start = i + 1
    end = start + len(run)
    if piece_start < end:
        _filler_run(folded, piece_start, end, folded[piece_start:end], edits)


def _apply_edits(original: str, folded: str, edits: list[tuple[int, int, str]]) -> Normalised:
    pieces: list[str] = []
    ns: list[int] = []
    os_: list[int] = []
    ol: list[int] = []
    o_cur = n_cur = 0
    for o_pos, o_len, repl in edits:
        if o_pos > o_cur:
            ns.append(n_cur), os_.append(o_cur), ol.append(-1)
            pieces.append(folded[o_cur:o_pos])
            n_cur += o_pos - o_cur
        if repl:
            ns.append(n_cur), os_.append(o_pos), ol.append(o_len)
            pieces.append(repl)
            n_cur += len(repl)
        o_cur = o_pos + o_len
    if o_cur < len(folded):
        ns.append(n_cur), os_.append(o_cur), ol.append(-1)
        pieces.append(folded[o_cur:])
    return Normalised(original, "".join(pieces), tuple(ns), tuple(os_), tuple(ol))


def normalise_term(term: str) -> str:
    """The key a term is matched by; raises ValueError when nothing is left."""
    key = normalise(term.strip()).text
    if not key:
        raise ValueError(f"term {term!r} is empty after normalisation")
    return key
