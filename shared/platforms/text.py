"""Text tools for adapting content to a platform: markup conversion and cutting to fit.

Cutting is unit-agnostic: callers pass a `fits(candidate) -> bool` predicate that measures the
whole post in the platform's own unit, so hashtags and links after the text are accounted for.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable
from html.parser import HTMLParser

from shared.platforms.counting import find_urls, grapheme_clusters

ELLIPSIS = "…"

_BLOCK_TAGS = frozenset(
    "p div section article header footer aside main nav h1 h2 h3 h4 h5 h6 ul ol li blockquote "
    "pre figure figcaption table thead tbody tr hr address dl dt dd".split()
)
_VOID_TAGS = frozenset("area base br col embed hr img input link meta source track wbr".split())
_SKIP_TAGS = frozenset(("script", "style", "template", "head", "noscript"))
_LOOKS_LIKE_HTML = re.compile(r"<(?:/?[a-zA-Z][a-zA-Z0-9]*)(?:\s[^<>]*)?/?>")

# Sentence ends: CJK terminators (with closing quotes), or . ! ? followed by space / end.
_SENTENCE_END_RE = re.compile(r"(?:[。！？]+|……|…)[」』”’\"'）)\]]*|[.!?]+[”’\"')\]]*(?=\s|$)|\n")


def looks_like_html(text: str) -> bool:
    return bool(_LOOKS_LIKE_HTML.search(text))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n\n• ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Plain text from HTML: block elements become paragraphs (blank line), <br> a line break,
    list items "• " lines; scripts and styles are dropped and entities decoded."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    lines = [line.strip() for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def normalize_plain(text: str) -> str:
    """Tidy plain text: unify line ends, trim line ends, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def text_to_html(text: str) -> str:
    """Escaped <p> paragraphs from plain text; single line breaks become <br>."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", normalize_plain(text)) if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


class _BlockSplitter(HTMLParser):
    """Records where each top-level element or text run starts and ends."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=False)
        self._line_starts = [0]
        for match in re.finditer("\n", markup):
            self._line_starts.append(match.end())
        self._depth = 0
        self.cuts: list[int] = [0]

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def _boundary_before(self) -> None:
        if self._depth == 0:
            self.cuts.append(self._offset())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._boundary_before()
        if tag not in _VOID_TAGS:
            self._depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._boundary_before()

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID_TAGS:
            self._depth = max(0, self._depth - 1)

    def handle_data(self, data: str) -> None:
        if data.strip():
            self._boundary_before()


def html_blocks(markup: str) -> list[str]:
    """Top-level pieces of an HTML fragment (elements and text runs), in order; joined they
    give the input back."""
    splitter = _BlockSplitter(markup)
    splitter.feed(markup)
    splitter.close()
    cuts = sorted(set([*splitter.cuts, len(markup)]))
    pieces = [markup[start:end] for start, end in itertools.pairwise(cuts)]
    merged: list[str] = []
    for piece in pieces:
        # closing tags and whitespace belong to the block before them
        if merged and (not piece.strip() or piece.lstrip().startswith("</")):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _inside_url(spans: list[tuple[int, int]], position: int) -> tuple[int, int] | None:
    for start, end in spans:
        if start < position < end:
            return start, end
    return None


def sentence_ends(text: str) -> list[int]:
    """Offsets just after each sentence end (and before each line break), outside URLs."""
    ends = []
    urls = find_urls(text)
    for match in _SENTENCE_END_RE.finditer(text):
        end = match.start() if match.group() == "\n" else match.end()
        if end > 0 and _inside_url(urls, end) is None:
            ends.append(end)
    return sorted(set(ends))


def _largest_fitting(count: int, fits_at: Callable[[int], bool]) -> int:
    """Largest i in [0, count] with fits_at(i), by binary search then a checked walk down
    (lengths with URLs counted 23 are not strictly monotone in the prefix length)."""
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if fits_at(middle):
            low = middle
        else:
            high = middle - 1
    while low > 0 and not fits_at(low):
        low -= 1
    return low


def _cut_mid_sentence(text: str, fits: Callable[[str], bool]) -> str:
    clusters = grapheme_clusters(text)
    urls = find_urls(text)
    offsets = [0]
    for cluster in clusters:
        offsets.append(offsets[-1] + len(cluster))

    def candidate(index: int) -> str:
        prefix = text[: offsets[index]]
        url = _inside_url(urls, len(prefix))
        if url is not None:  # never leave half a URL
            prefix = text[: url[0]]
        elif len(prefix) < len(text) and prefix[-1:].isalnum() and text[len(prefix)].isalnum():
            # Latin words: back off to the last space if one is near
            space = prefix.rfind(" ")
            if space >= 0 and len(prefix) - space <= 20 and prefix[-1].isascii():
                prefix = prefix[:space]
        prefix = prefix.rstrip(" \n\t,，、;；:：")
        return prefix + ELLIPSIS if prefix else ""

    best = _largest_fitting(len(clusters), lambda i: i == 0 or fits(candidate(i)))
    return candidate(best) if best else ""


def fit_text(text: str, fits: Callable[[str], bool]) -> tuple[str, str | None]:
    """The longest prefix of `text` for which `fits` holds, cut at a sentence end when that
    keeps at least half of what a mid-sentence cut would, else mid-sentence with "…".

    Returns (text, how) with how None (unchanged), "sentence" or "mid_sentence"; the text is
    empty when not even one grapheme fits.
    """
    if fits(text):
        return text, None
    ends = [end for end in sentence_ends(text) if end < len(text)]
    sentence_cut = ""
    if ends:
        best = _largest_fitting(len(ends), lambda i: i == 0 or fits(text[: ends[i - 1]].rstrip()))
        sentence_cut = text[: ends[best - 1]].rstrip() if best else ""
    mid_cut = _cut_mid_sentence(text, fits)
    if sentence_cut and len(sentence_cut) * 2 >= len(mid_cut):
        return sentence_cut, "sentence"
    if mid_cut:
        return mid_cut, "mid_sentence"
    return "", "mid_sentence"


_WRAPPER_RE = re.compile(r"(?s)(<([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>)(.*)(</\2\s*>)")
_SCRIPT_RE = re.compile(r"(?is)<(script|style)\b.*?</\1\s*>")


def strip_scripts(markup: str) -> str:
    return _SCRIPT_RE.sub("", markup)


_HEADING_RE = re.compile(r"(?is)\s*<h[1-6]\b")


def fit_html(
    markup: str, fits: Callable[[str], bool], *, allow_mid_sentence: bool = True
) -> tuple[str, str | None]:
    """The longest run of whole top-level blocks for which `fits` holds, then as much of the
    next block as fits: descending into a wrapper element (a WeChat <section>), or cutting a
    text run with `fit_text`. A mid-sentence cut ("…") is used only when nothing before it was
    kept; a heading left last, without its section, is dropped. Returns (markup, how) like
    `fit_text`."""
    if fits(markup):
        return markup, None
    blocks = html_blocks(markup)
    kept_count = _largest_fitting(len(blocks), lambda i: fits("".join(blocks[:i])))
    while kept_count > 0 and _HEADING_RE.match(blocks[kept_count - 1]):
        kept_count -= 1
    kept = "".join(blocks[:kept_count])
    allow_mid_sentence = allow_mid_sentence and not html_to_text(kept)
    block = blocks[kept_count].strip() if kept_count < len(blocks) else ""
    wrapper = _WRAPPER_RE.fullmatch(block)
    if wrapper is not None and not _HEADING_RE.match(block):
        open_tag, inner, close_tag = wrapper.group(1), wrapper.group(3), wrapper.group(4)
        inner_fit, how = fit_html(
            inner,
            lambda x: fits(kept + open_tag + x + close_tag),
            allow_mid_sentence=allow_mid_sentence,
        )
        if html_to_text(inner_fit):
            return kept + open_tag + inner_fit + close_tag, how or "sentence"
    elif block and not block.startswith("<"):
        plain = html.unescape(block)
        cut, how = fit_text(plain, lambda t: fits(kept + html.escape(t, quote=False)))
        if cut and (how == "sentence" or allow_mid_sentence):
            return kept + html.escape(cut, quote=False), how
    return kept, "sentence"
