"""The event catalog: every type on the bus and its payload model, one module per service.

Types are `mediaops.<service>.<entity>.<verb>`. A breaking change is a new type. Commands
(imperative, one handler) travel on the commands exchange; events (past tense, many handlers)
on `mediaops.events`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from shared.events.catalog import content, metrics, planning, publisher


@dataclass(frozen=True)
class EventSpec:
    type: str
    model: type[BaseModel]
    summary: str
    command: bool = False


def _collect() -> dict[str, EventSpec]:
    specs: dict[str, EventSpec] = {}
    for module in (planning, content, publisher, metrics):
        for type_, (model, summary) in module.EVENTS.items():
            specs[type_] = EventSpec(type_, model, summary)
        for type_, (model, summary) in getattr(module, "COMMANDS", {}).items():
            specs[type_] = EventSpec(type_, model, summary, command=True)
    return specs


CATALOG: dict[str, EventSpec] = _collect()
COMMANDS: frozenset[str] = frozenset(t for t, s in CATALOG.items() if s.command)


def payload_model(type_: str) -> type[BaseModel]:
    try:
        return CATALOG[type_].model
    except KeyError:
        raise KeyError(f"unknown event type {type_!r}: add it to shared/events/catalog") from None
