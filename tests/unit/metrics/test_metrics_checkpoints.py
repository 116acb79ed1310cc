from datetime import UTC, datetime, timedelta

import pytest

from services.metrics.domain.errors import DomainError
from shared.checkpoints import (
    DEFAULT_CHECKPOINTS,
    due_checkpoints,
    next_checkpoint_at,
    parse_checkpoints,
)

PUBLISHED = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def test_default_checkpoints():
    assert [c.name for c in DEFAULT_CHECKPOINTS] == ["1h", "6h", "24h", "72h", "7d", "28d"]
    assert DEFAULT_CHECKPOINTS[-1].age == timedelta(days=28)


def test_due_checkpoints_at_real_time():
    now = PUBLISHED + timedelta(hours=7)
    due = due_checkpoints(PUBLISHED, done={"1h"}, now=now)
    assert [(d.name, d.due_at) for d in due] == [("6h", PUBLISHED + timedelta(hours=6))]
    assert next_checkpoint_at(PUBLISHED, {"1h", "6h"}, now) == PUBLISHED + timedelta(hours=24)


def test_scale_turns_hours_into_seconds():
    now = PUBLISHED + timedelta(seconds=25)
    due = due_checkpoints(PUBLISHED, done=set(), now=now, scale=3600)
    assert [d.name for d in due] == ["1h", "6h", "24h"]
    assert due[2].due_at == PUBLISHED + timedelta(seconds=24)
    assert next_checkpoint_at(PUBLISHED, set(), now, scale=3600) == PUBLISHED + timedelta(
        seconds=72
    )


def test_nothing_left_after_the_last_checkpoint():
    names = {c.name for c in DEFAULT_CHECKPOINTS}
    now = PUBLISHED + timedelta(days=40)
    assert due_checkpoints(PUBLISHED, names, now) == []
    assert next_checkpoint_at(PUBLISHED, names, now) is None
    # after an outage every missed checkpoint is due at once
    assert len(due_checkpoints(PUBLISHED, set(), now)) == 6


def test_checkpoints_are_configurable_and_checked():
    assert [c.name for c in parse_checkpoints("24h, 30m,2d")] == ["30m", "24h", "2d"]
    for bad in ("", "1x", "0h", "1h,60m"):
        with pytest.raises(DomainError):
            parse_checkpoints(bad)
    with pytest.raises(DomainError) as error:
        due_checkpoints(PUBLISHED, set(), PUBLISHED, scale=0)
    assert error.value.field == "time_scale"
