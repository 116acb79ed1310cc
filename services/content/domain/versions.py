"""Content versions: a stable hash of an item's fields and readable diffs between versions.

The hash is what review approvals are bound to: SHA-256 over canonical JSON (keys sorted,
no whitespace, UTF-8, every string in NFC), so the same content always hashes the same no
matter the key order or the Unicode composition the client sent.

Diffs work on sentences, not lines: Chinese copy is often one long line, where a line diff
would say "everything changed". Each field gets a unified diff (one sentence per line) and an
inline character diff of the changed sentences only: `[-removed-]{+added+}`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# A sentence ends after Chinese or Latin end punctuation (and any closing quotes), or at a
# line break.
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…\n])(?![」』”’\"'）)\n])|(?<=[.][\s])")
_INLINE_CONTEXT = 12  # characters of unchanged text shown around an inline change


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nfc(v) for v in value]
    return value


def canonical_json(fields: Mapping[str, Any]) -> str:
    """JSON-compatible values only (str, numbers, bool, None, lists, dicts)."""
    return json.dumps(
        _nfc(fields), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def content_hash(fields: Mapping[str, Any]) -> str:
    """64 hex characters."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class FieldDiff:
    field: str
    change: Change
    old: Any
    new: Any
    unified: str  # unified diff, one sentence (or JSON line) per line
    inline: str  # changed parts only, with a little context: 前文[-旧-]{+新+}后文
    chars_added: int
    chars_removed: int
    summary: str


def split_sentences(text: str) -> list[str]:
    """Sentences with their punctuation; joining them gives `text` back exactly."""
    return [s for s in _SENTENCE_END.split(text) if s]


def _units(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return split_sentences(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1).splitlines(keepends=True)


def _inline(old: str, new: str) -> tuple[str, int, int]:
    """Character diff of two (short) strings: markup, characters added, removed."""
    parts: list[str] = []
    added = removed = 0
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    for i, (tag, a0, a1, b0, b1) in enumerate(ops):
        if tag == "equal":
            chunk = old[a0:a1]
            first, last = i == 0, i == len(ops) - 1
            if len(chunk) > 2 * _INLINE_CONTEXT and not (first or last):
                chunk = f"{chunk[:_INLINE_CONTEXT]}…{chunk[-_INLINE_CONTEXT:]}"
            elif first and len(chunk) > _INLINE_CONTEXT:
                chunk = "…" + chunk[-_INLINE_CONTEXT:]
            elif last and len(chunk) > _INLINE_CONTEXT:
                chunk = chunk[:_INLINE_CONTEXT] + "…"
            parts.append(chunk)
            continue
        if a1 > a0:
            parts.append(f"[-{old[a0:a1]}-]")
            removed += a1 - a0
        if b1 > b0:
            parts.append(f"{{+{new[b0:b1]}+}}")
            added += b1 - b0
    return "".join(parts), added, removed


def _diff_text(field: str, old: str, new: str) -> tuple[str, str, int, int, str]:
    a, b = split_sentences(old), split_sentences(new)
    unified = _unified(field, a, b)
    pieces: list[str] = []
    added = removed = 0
    counts: Counter[str] = Counter()
    for tag, a0, a1, b0, b1 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        counts[tag] += max(a1 - a0, b1 - b0) if tag == "replace" else (a1 - a0) + (b1 - b0)
        markup, plus, minus = _inline("".join(a[a0:a1]), "".join(b[b0:b1]))
        pieces.append(markup)
        added += plus
        removed += minus
    words = {"replace": "changed", "insert": "added", "delete": "removed"}
    sentences = ", ".join(f"{n} sentence{'s' * (n != 1)} {words[t]}" for t, n in counts.items())
    summary = f"{field}: {sentences} (+{added}/-{removed} chars)"
    return unified, " … ".join(pieces), added, removed, summary


def _unified(field: str, a: list[str], b: list[str]) -> str:
    def lines(units: list[str]) -> list[str]:
        return [u if u.endswith("\n") else u + "\n" for u in units]

    return "".join(
        difflib.unified_diff(lines(a), lines(b), f"{field} (old)", f"{field} (new)", n=1)
    )


def _diff_value(field: str, old: Any, new: Any) -> tuple[str, str, int, int, str]:
    unified = _unified(field, _units(old), _units(new))
    if isinstance(old, list) and isinstance(new, list):
        as_key = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)  # noqa: E731
        before, after = Counter(map(as_key, old)), Counter(map(as_key, new))
        plus, minus = sum((after - before).values()), sum((before - after).values())
        summary = f"{field}: +{plus}/-{minus} items"
        inline = " ".join(
            [*(f"{{+{k}+}}" for k in after - before), *(f"[-{k}-]" for k in before - after)]
        )
        return unified, inline, 0, 0, summary
    old_s = "" if old is None else json.dumps(old, ensure_ascii=False, sort_keys=True)
    new_s = "" if new is None else json.dumps(new, ensure_ascii=False, sort_keys=True)
    inline, plus, minus = _inline(old_s, new_s)
    return unified, inline, plus, minus, f"{field}: {old_s or '∅'} -> {new_s or '∅'}"


def diff_versions(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldDiff]:
    """The fields that differ (after NFC), in field-name order."""
    old, new = _nfc(old), _nfc(new)
    diffs: list[FieldDiff] = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        change = (
            Change.ADDED
            if name not in old
            else Change.REMOVED
            if name not in new
            else Change.CHANGED
        )
        if isinstance(a, str | None) and isinstance(b, str | None):
            parts = _diff_text(name, a or "", b or "")
        else:
            parts = _diff_value(name, a, b)
        unified, inline, plus, minus, summary = parts
        diffs.append(
            FieldDiff(name, change, a, b, unified, inline, plus, minus, f"{summary} [{change}]")
        )
    return diffs


def summarise(diffs: list[FieldDiff]) -> str:
    """One line for a version list: 'title: 1 sentence changed (+2/-2 chars) [changed]; ...'."""
    return "; ".join(d.summary for d in diffs) if diffs else "no changes"
