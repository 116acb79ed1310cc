"""Post-age checkpoints: when a published post's stats are polled.

A checkpoint is an age of the post (1 h, 6 h, ...). `time_scale` compresses every age for
tests and the demo: with a scale of 3600 an hour of age passes in a second, so "24h" is due
24 seconds after publication.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.metrics.domain.errors import DomainError


@dataclass(frozen=True)
class Checkpoint:
    name: str  # e.g. "24h"; stored with the observations taken at it
    age: timedelta


@dataclass(frozen=True)
class DueCheckpoint:
    name: str
    due_at: datetime


_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_SPEC = re.compile(r"^(\d+)([mhd])$")


def parse_checkpoint(name: str) -> Checkpoint:
    """'90m', '6h', '7d' -> Checkpoint (the name is kept as given)."""
    match = _SPEC.match(name.strip())
    if match is None or int(match.group(1)) == 0:
        raise DomainError("checkpoints", f"{name!r} is not an age like 90m, 6h or 7d")
    return Checkpoint(name.strip(), int(match.group(1)) * _UNITS[match.group(2)])


def parse_checkpoints(spec: str) -> tuple[Checkpoint, ...]:
    """'1h,6h,24h' -> checkpoints sorted by age; duplicates refused (a setting, checked once)."""
    checkpoints = sorted((parse_checkpoint(p) for p in spec.split(",") if p.strip()), key=_age)
    if not checkpoints:
        raise DomainError("checkpoints", "at least one checkpoint is needed")
    ages = [c.age for c in checkpoints]
    if len(set(ages)) != len(ages):
        raise DomainError("checkpoints", "two checkpoints have the same age")
    return tuple(checkpoints)


def _age(checkpoint: Checkpoint) -> timedelta:
    return checkpoint.age


DEFAULT_CHECKPOINTS: tuple[Checkpoint, ...] = parse_checkpoints("1h,6h,24h,72h,7d,28d")


def _check_scale(scale: float) -> None:
    if not scale > 0:
        raise DomainError("time_scale", "time_scale must be a positive number")


def checkpoint_due_at(
    published_at: datetime, checkpoint: Checkpoint, scale: float = 1.0
) -> datetime:
    _check_scale(scale)
    return published_at + checkpoint.age / scale


def due_checkpoints(
    published_at: datetime,
    done: Collection[str],
    now: datetime,
    scale: float = 1.0,
    checkpoints: Sequence[Checkpoint] = DEFAULT_CHECKPOINTS,
) -> list[DueCheckpoint]:
    """Checkpoints reached by `now` and not yet in `done`, oldest first.

    After an outage several may be due at once; one poll serves them all (the caller marks
    each done with the same observation).
    """
    _check_scale(scale)
    due = []
    for checkpoint in checkpoints:
        due_at = checkpoint_due_at(published_at, checkpoint, scale)
        if due_at <= now and checkpoint.name not in done:
            due.append(DueCheckpoint(checkpoint.name, due_at))
    return due


def next_checkpoint_at(
    published_at: datetime,
    done: Collection[str],
    now: datetime,
    scale: float = 1.0,
    checkpoints: Sequence[Checkpoint] = DEFAULT_CHECKPOINTS,
) -> datetime | None:
    """When to poll next: the earliest checkpoint after `now` not yet done; None when none left.

    Checkpoints already due are `due_checkpoints`' business, not this one's.
    """
    _check_scale(scale)
    upcoming = [
        checkpoint_due_at(published_at, c, scale)
        for c in checkpoints
        if c.name not in done and checkpoint_due_at(published_at, c, scale) > now
    ]
    return min(upcoming, default=None)
