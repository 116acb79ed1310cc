"""Pure rules of webhook delivery."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta

from shared.bus.base import topic_matches
from shared.events import CATALOG, COMMANDS

# Standard Webhooks suggests retrying over about three days with growing gaps.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
# A subscription whose deliveries keep failing is switched off (a 410 does it at once).
DISABLE_AFTER_CONSECUTIVE_FAILURES = 25


class InvalidPattern(ValueError):
    def __init__(self, pattern: str, message: str) -> None:
        super().__init__(message)
        self.pattern = pattern


def validate_event_types(patterns: Iterable[str]) -> list[str]:
    """Exact catalog types or AMQP-style wildcards (`mediaops.publisher.#`, `*.*.goal.*`)."""
    out: list[str] = []
    for p in patterns:
        p = p.strip()
        if not p:
            raise InvalidPattern(p, "an event type pattern is empty")
        if p in COMMANDS:
            raise InvalidPattern(p, f"{p} is a command, not an event")
        if "*" in p or "#" in p:
            if not any(topic_matches(p, t) for t in CATALOG if t not in COMMANDS):
                raise InvalidPattern(p, f"{p!r} matches no event type of the catalog")
        elif p not in CATALOG:
            raise InvalidPattern(p, f"unknown event type {p!r}; see /asyncapi.json")
        if p not in out:
            out.append(p)
    if not out:
        raise InvalidPattern("", "subscribe to at least one event type")
    return out


def wants(patterns: Iterable[str], event_type: str) -> bool:
    return any(topic_matches(p, event_type) for p in patterns)


# Compresses the schedule for demos and tests (0.001 turns 5 s into 5 ms).
RETRY_SCALE = float(os.environ.get("MEDIAOPS_WEBHOOK_RETRY_SCALE", "1"))


def next_attempt_at(
    attempts_made: int, now: datetime, scale: float | None = None
) -> datetime | None:
    """When to try again after `attempts_made` failed attempts; None when out of attempts."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    return now + RETRY_SCHEDULE[attempts_made - 1] * (RETRY_SCALE if scale is None else scale)


def is_success(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def disables_endpoint(status: int | None) -> bool:
    """410 Gone: the receiver asks us to stop (Standard Webhooks)."""
    return status == 410
