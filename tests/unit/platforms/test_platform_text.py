from shared.platforms.counting import graphemes
from shared.platforms.text import (
    ELLIPSIS,
    fit_html,
    fit_text,
    html_blocks,
    html_to_text,
    looks_like_html,
    sentence_ends,
    text_to_html,
)


def test_html_to_text_keeps_paragraphs_lines_and_lists() -> None:
    markup = (
        "<section><h1>T &amp; U</h1><p>one  two<br>three</p>"
        "<ul><li>a</li><li>b</li></ul><script>alert(1)</script><style>p{}</style></section>"
    )
    assert html_to_text(markup) == "T & U\n\none two\nthree\n\n• a\n\n• b"


def test_text_to_html_escapes_and_wraps() -> None:
    assert text_to_html("a < b\nc\n\n\nd & e") == "<p>a &lt; b<br>c</p><p>d &amp; e</p>"
    assert looks_like_html("<p>x</p>") and not looks_like_html("1 < 2 and 3 > 2")


def test_html_blocks_split_top_level_and_rejoin() -> None:
    markup = "<p>a</p>\n<p>b<br>c</p>text<img src=x><div><div>x</div></div>"
    blocks = html_blocks(markup)
    assert blocks == [
        "<p>a</p>\n",
        "<p>b<br>c</p>",
        "text",
        "<img src=x>",
        "<div><div>x</div></div>",
    ]
    assert "".join(blocks) == markup


def test_sentence_ends_cover_cjk_latin_and_lines_but_not_urls() -> None:
    text = "第一句。第二句！“引号。”Next one. See https://a.com/x.y?z=1 ok\nend"
    ends = sentence_ends(text)
    assert [text[:end][-2:] for end in ends] == ["句。", "句！", "。”", "e.", "ok"]


def test_fit_text_unchanged_when_it_fits() -> None:
    assert fit_text("短句。", lambda t: len(t) <= 10) == ("短句。", None)


def test_fit_text_cuts_at_a_sentence_end_without_ellipsis() -> None:
    text = "第一句话很短。第二句话也不长。第三句话会超出限制。"
    cut, how = fit_text(text, lambda t: len(t) <= 16)
    assert (cut, how) == ("第一句话很短。第二句话也不长。", "sentence")


def test_fit_text_cuts_mid_sentence_with_ellipsis_when_no_sentence_fits() -> None:
    text = "这是一句没有任何标点而且非常非常长的句子" * 3
    cut, how = fit_text(text, lambda t: len(t) <= 10)
    assert how == "mid_sentence"
    assert cut == text[:9] + ELLIPSIS


def test_fit_text_never_splits_a_grapheme_or_a_url() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"
    cut, _ = fit_text(family * 10, lambda t: graphemes(t) <= 4)
    assert cut == family * 3 + ELLIPSIS
    text = "看看 https://example.com/a/long/path 这个"
    cut, _ = fit_text(text, lambda t: len(t) <= 20)
    assert cut == "看看" + ELLIPSIS


def test_fit_text_backs_off_to_a_word_boundary() -> None:
    cut, how = fit_text("hello wonderful world", lambda t: len(t) <= 12)
    assert (cut, how) == ("hello" + ELLIPSIS, "mid_sentence")


def test_fit_html_keeps_whole_blocks_inside_a_wrapper() -> None:
    markup = "<section><h2>A</h2><p>一。二。</p><h2>B</h2><p>三三三三三三三三。</p></section>"
    fitted, how = fit_html(markup, lambda m: len(m) <= 60)
    # the second heading would be left without its paragraph, so it goes too
    assert fitted == "<section><h2>A</h2><p>一。二。</p></section>"
    assert how == "sentence"
    assert fit_html(markup, lambda m: True) == (markup, None)


def test_fit_html_cuts_a_lone_paragraph_at_a_sentence() -> None:
    markup = "<p>第一句。第二句。第三句很长很长很长很长。</p>"
    fitted, how = fit_html(markup, lambda m: len(m) <= 17)
    assert (fitted, how) == ("<p>第一句。第二句。</p>", "sentence")
