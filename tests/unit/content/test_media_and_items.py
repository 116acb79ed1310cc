"""Sniffing by magic bytes, image sizes from headers, workflow JSON, version fields."""

from __future__ import annotations

import struct

import pytest

from services.content.domain.items import (
    compliance_fields,
    flatten_for_diff,
    hash_version,
    tasks_for_format,
    version_fields,
)
from services.content.domain.media import image_size, sniff
from services.content.domain.review import default_workflow
from services.content.domain.workflow_config import (
    WorkflowInvalid,
    workflow_from_json,
    workflow_to_json,
)


def test_sniff_reads_bytes_not_names():
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 640, 480)
    assert sniff(png).mime == "image/png"
    assert image_size(png, "image/png") == (640, 480)
    gif = b"GIF89a" + struct.pack("<HH", 20, 10)
    assert (sniff(gif).kind, image_size(gif, "image/gif")) == ("gif", (20, 10))
    assert sniff(b"\x00\x00\x00\x18ftypmp42").mime == "video/mp4"
    assert sniff(b"%PDF-1.7").kind == "document"
    assert sniff(b"hello world") is None
    assert sniff(b"") is None


def test_jpeg_and_webp_dimensions():
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
        + b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 1080, 1920) + b"\x00" * 10
    )  # fmt: skip
    assert sniff(jpeg).mime == "image/jpeg"
    assert image_size(jpeg, "image/jpeg") == (1920, 1080)
    vp8x = b"RIFF" + b"\0" * 4 + b"WEBPVP8X" + b"\0" * 8 + (799).to_bytes(3, "little")
    vp8x += (599).to_bytes(3, "little")
    assert image_size(vp8x, "image/webp") == (800, 600)


def test_workflow_round_trip_and_validation():
    wf = default_workflow()
    assert workflow_from_json(workflow_to_json(wf)) == wf
    assert workflow_from_json(None) == wf
    with pytest.raises(WorkflowInvalid) as err:
        workflow_from_json({"stages": [{"key": "c", "kind": "compliance"}]})
    assert err.value.field == "stages"  # no human stage
    with pytest.raises(WorkflowInvalid) as err:
        workflow_from_json({"stages": [{"key": "r", "mode": "all"}]})
    assert err.value.field == "stages[0]"  # 'all' needs named reviewers


def test_version_hash_covers_variants_but_not_their_order():
    item = {"title": "T", "format": "article", "body": "B"}
    a = {"channel": "x", "body": "hi"}
    b = {"channel": "weibo", "body": "你好"}
    h1 = hash_version(version_fields(item, [a, b]))
    assert h1 == hash_version(version_fields(item, [b, a]))
    assert h1 != hash_version(version_fields(item, [a, {**b, "body": "你好！"}]))
    flat = flatten_for_diff(version_fields(item, [a]))
    assert flat["variant:x.body"] == "hi" and "variants" not in flat


def test_compliance_fields_name_every_text():
    item = {
        "title": "T",
        "body": "B",
        "title_alternatives": ["A1"],
        "script": {"scenes": [{"title": "S", "shots": [{"description": "D"}]}]},
    }
    fields = compliance_fields(item, [{"channel": "weibo", "body": "W", "hashtags": ["h"]}])
    assert fields == {
        "title": "T",
        "body": "B",
        "title_alternatives[0]": "A1",
        "script.scenes[0].title": "S",
        "script.scenes[0].shots[0].description": "D",
        "variant:weibo.body": "W",
        "variant:weibo.hashtags": "h",
    }


def test_tasks_by_format():
    assert [r for r, _ in tasks_for_format("article")] == ["brief", "copy", "design", "layout"]
    assert [r for r, _ in tasks_for_format("gif")] == ["brief", "design"]
