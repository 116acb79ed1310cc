"""The catalog, the CloudEvents envelope and the AsyncAPI document generated from them."""

from __future__ import annotations

import json

import pytest
from cloudevents.core.formats.json import JSONFormat
from pydantic import ValidationError

from shared.bus.base import retry_delay_ms, topic_matches
from shared.events import CATALOG, COMMANDS, new_event
from shared.events.asyncapi import build_asyncapi

CONTRACT_TYPES = {
    "mediaops.planning.goal.created",
    "mediaops.planning.topic.approved",
    "mediaops.content.item.submitted",
    "mediaops.content.review.decided",
    "mediaops.content.item.approved",
    "mediaops.publisher.publication.scheduled",
    "mediaops.publisher.publication.published",
    "mediaops.publisher.publication.failed",
    "mediaops.metrics.goal.progressed",
    "mediaops.metrics.insight.generated",
}


def test_catalog_has_every_contract_type_named_by_convention():
    assert CONTRACT_TYPES <= set(CATALOG)
    for type_ in CATALOG:
        parts = type_.split(".")
        assert parts[0] == "mediaops" and parts[1] in {
            "planning",
            "content",
            "publisher",
            "metrics",
        }
        assert len(parts) == 4, type_
    assert COMMANDS == {"mediaops.publisher.publication.dispatch"}


def test_envelope_is_a_cloudevent_that_the_sdk_parses():
    event = new_event(
        "mediaops.metrics.goal.progressed",
        {
            "goal_id": "g1",
            "metric": "reads",
            "current": 50,
            "target": 100,
            "ratio": 0.5,
            "on_track": True,
            "measured_at": "2026-03-01T00:00:00+08:00",
        },
        workspace_id="acme",
        source="/mediaops/metrics",
        subject="g1",
        request_id="req-1",
    )
    # The CloudEvents SDK validates required attributes and extension names on read.
    parsed = JSONFormat().read(None, event.model_dump_json())
    assert parsed.get_specversion() == "1.0"
    assert parsed.get_type() == "mediaops.metrics.goal.progressed"
    assert parsed.get_extension("workspaceid") == "acme"
    assert parsed.get_extension("requestid") == "req-1"
    data = parsed.get_data()
    assert isinstance(data, dict)
    assert data["current"] == 50.0 and data["on_track"] is True


def test_payload_is_validated_against_the_catalog():
    with pytest.raises(ValidationError):
        new_event(
            "mediaops.metrics.goal.progressed", {"goal_id": "g1"}, workspace_id="a", source="/x"
        )
    with pytest.raises(KeyError, match="unknown event type"):
        new_event("mediaops.nope.thing.done", {}, workspace_id="a", source="/x")


def test_asyncapi_document_covers_the_catalog():
    doc = build_asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(CATALOG)
    dispatch = doc["channels"]["mediaops_publisher_publication_dispatch"]
    assert dispatch["bindings"]["amqp"]["exchange"]["name"] == "mediaops.commands"
    approved = doc["components"]["messages"]["mediaops_content_item_approved"]
    assert approved["payload"]["properties"]["data"]["$ref"] == "#/components/schemas/ItemApproved"
    assert "ItemApproved" in doc["components"]["schemas"]
    for op in doc["operations"].values():
        ref = op["channel"]["$ref"].split("/")[-1]
        assert ref in doc["channels"]
    json.dumps(doc)  # serialisable
    only_planning = build_asyncapi(services=("planning",))
    assert all(
        a.startswith("mediaops.planning.")
        for a in (c["address"] for c in only_planning["channels"].values())
    )


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("mediaops.planning.goal.created", "mediaops.planning.goal.created", True),
        ("mediaops.*.goal.created", "mediaops.planning.goal.created", True),
        ("mediaops.#", "mediaops.planning.goal.created", True),
        ("mediaops.publisher.#", "mediaops.planning.goal.created", False),
        ("mediaops.*.created", "mediaops.planning.goal.created", False),
        ("#.created", "mediaops.planning.goal.created", True),
        ("#", "", True),
    ],
)
def test_topic_matching(pattern, key, expected):
    assert topic_matches(pattern, key) is expected


def test_retry_delay_grows_then_repeats_the_last():
    assert [retry_delay_ms([10, 20, 40], n) for n in (1, 2, 3, 4, 9)] == [10, 20, 40, 40, 40]
