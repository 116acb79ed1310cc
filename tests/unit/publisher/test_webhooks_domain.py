from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.publisher.webhooks import domain


def test_patterns_exact_and_wildcards_are_checked_against_the_catalog():
    assert domain.validate_event_types(
        ["mediaops.content.#", "mediaops.publisher.publication.published", "mediaops.content.#"]
    ) == ["mediaops.content.#", "mediaops.publisher.publication.published"]
    for bad, why in [
        ("mediaops.nothing.here", "unknown event type"),
        ("mediaops.nothing.#", "matches no event type"),
        ("mediaops.publisher.publication.dispatch", "is a command"),
        (" ", "empty"),
    ]:
        with pytest.raises(domain.InvalidPattern, match=why):
            domain.validate_event_types([bad])


def test_wants_matches_topic_patterns():
    assert domain.wants(["mediaops.*.goal.*"], "mediaops.planning.goal.created")
    assert not domain.wants(["mediaops.content.#"], "mediaops.planning.goal.created")


def test_retry_schedule_grows_and_ends():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    gaps = [domain.next_attempt_at(n, now, scale=1) for n in range(1, domain.MAX_ATTEMPTS)]
    assert gaps[0] == now + timedelta(seconds=5)
    deltas = [g - now for g in gaps if g]
    assert deltas == sorted(deltas)
    assert sum(domain.RETRY_SCHEDULE, timedelta()) > timedelta(days=2)  # about three days
    assert domain.next_attempt_at(domain.MAX_ATTEMPTS, now) is None
    assert domain.next_attempt_at(1, now, scale=0.001) == now + timedelta(milliseconds=5)


def test_success_and_gone():
    assert domain.is_success(204) and not domain.is_success(301) and not domain.is_success(None)
    assert domain.disables_endpoint(410) and not domain.disables_endpoint(404)
