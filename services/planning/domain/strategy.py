"""Content strategy: pillars with a target share of output, and audience personas."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.planning.domain.errors import DomainError

SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Pillar:
    name: str
    target_share: float  # of all output, 0..1; the shares of a workspace sum to at most 1
    description: str = ""


def validate_pillars(pillars: Iterable[Pillar]) -> list[Pillar]:
    """Unique names, shares in [0, 1] that sum to at most 1 (the rest is unplanned)."""
    seen: set[str] = set()
    clean: list[Pillar] = []
    for i, pillar in enumerate(pillars):
        name = pillar.name.strip()
        if not name:
            raise DomainError(f"pillars[{i}].name", "must not be empty")
        if name.lower() in seen:
            raise DomainError(f"pillars[{i}].name", f"duplicate pillar {name!r}")
        seen.add(name.lower())
        if not 0 <= pillar.target_share <= 1:
            raise DomainError(f"pillars[{i}].target_share", "must be between 0 and 1")
        clean.append(Pillar(name, float(pillar.target_share), pillar.description))
    total = sum(p.target_share for p in clean)
    if total > 1 + SHARE_TOLERANCE:
        raise DomainError("pillars", f"target shares add up to {total:.0%}; at most 100%")
    return clean


def pillar_targets(pillars: Iterable[Pillar]) -> dict[str, float]:
    return {p.name: p.target_share for p in pillars}


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    interests: Sequence[str] = field(default_factory=tuple)
    active_hours: Sequence[int] = field(default_factory=tuple)  # local hours 0..23
    preferred_channels: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise DomainError("name", "must not be empty")
        if any(not 0 <= h <= 23 for h in self.active_hours):
            raise DomainError("active_hours", "hours are whole numbers from 0 to 23")
