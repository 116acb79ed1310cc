"""Event handlers of the publisher service. Queue bindings are derived from this dict."""

from __future__ import annotations

from shared.service import EventHandler

EVENT_HANDLERS: dict[str, list[EventHandler]] = {}
