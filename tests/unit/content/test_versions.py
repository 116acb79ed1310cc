import hashlib
import unicodedata

from services.content.domain.versions import (
    Change,
    canonical_json,
    content_hash,
    diff_versions,
    split_sentences,
    summarise,
)


def test_hash_is_sha256_of_canonical_json() -> None:
    fields = {"title": "夏季新品", "body": "正文", "hashtags": ["a", "b"]}
    expected = hashlib.sha256(
        '{"body":"正文","hashtags":["a","b"],"title":"夏季新品"}'.encode()
    ).hexdigest()
    assert canonical_json(fields) == '{"body":"正文","hashtags":["a","b"],"title":"夏季新品"}'
    assert content_hash(fields) == expected


def test_hash_ignores_key_order_and_unicode_composition() -> None:
    composed = "Café 咖啡"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    a = content_hash({"title": composed, "body": "x", "meta": {"k": decomposed, "j": 1}})
    b = content_hash({"body": "x", "meta": {"j": 1, "k": composed}, "title": decomposed})
    assert a == b


def test_hash_changes_with_content() -> None:
    base = {"title": "新品", "body": "正文"}
    assert content_hash(base) != content_hash({**base, "body": "正文。"})
    assert content_hash(base) != content_hash({**base, "important": True})
    assert content_hash({"tags": ["a", "b"]}) != content_hash({"tags": ["b", "a"]})


def test_sentences_split_on_chinese_and_latin_punctuation_and_join_back() -> None:
    text = "今天天气很好。我们去公园吧！“好的。”他说。Hello world. OK?\n下一段"
    parts = split_sentences(text)
    assert parts == [
        "今天天气很好。",
        "我们去公园吧！",
        "“好的。”他说。",
        "Hello world. ",
        "OK?\n",
        "下一段",
    ]
    assert "".join(parts) == text


def test_diff_reports_changed_sentences_and_characters() -> None:
    old = {"title": "夏季新品上市", "body": "今天天气很好。我们推出了最佳新品！欢迎选购。"}
    new = {
        "title": "夏季新款上市",
        "body": "今天天气很好。我们推出了全新产品！欢迎选购。限时优惠。",
    }
    body, title = diff_versions(old, new)
    assert (title.field, title.change) == ("title", Change.CHANGED)
    assert title.inline == "夏季新[-品-]{+款+}上市"
    assert (title.chars_added, title.chars_removed) == (1, 1)
    assert body.unified.splitlines()[3:] == [
        " 今天天气很好。",
        "-我们推出了最佳新品！",
        "+我们推出了全新产品！",
        " 欢迎选购。",
        "+限时优惠。",
    ]
    assert "[-最佳-]" in body.inline and "{+限时优惠。+}" in body.inline
    assert body.summary == "body: 1 sentence changed, 1 sentence added (+7/-2 chars) [changed]"


def test_long_text_inline_shows_only_the_change_with_context() -> None:
    filler = "这是一段很长的说明文字，没有任何变化。" * 50
    old = {"body": filler + "价格是九十九元。" + filler}
    new = {"body": filler + "价格是八十九元。" + filler}
    [d] = diff_versions(old, new)
    assert d.inline == "价格是[-九-]{+八+}十九元。"
    assert len(d.unified) < 300


def test_added_removed_and_list_fields() -> None:
    diffs = {
        d.field: d
        for d in diff_versions(
            {"a": "x", "tags": ["夏季", "新品"]}, {"tags": ["夏季", "优惠"], "b": 1}
        )
    }
    assert diffs["a"].change is Change.REMOVED
    assert diffs["b"].change is Change.ADDED
    assert diffs["tags"].summary == "tags: +1/-1 items [changed]"
    assert '{+"优惠"+}' in diffs["tags"].inline


def test_nfc_equivalent_fields_are_not_a_change() -> None:
    s = "Café"
    assert diff_versions({"t": s}, {"t": unicodedata.normalize("NFD", s)}) == []
    assert summarise([]) == "no changes"
