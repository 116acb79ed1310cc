"""Domain events: the CloudEvents envelope and the typed catalog of payloads."""

from shared.events.catalog import CATALOG, COMMANDS, EventSpec, payload_model
from shared.events.envelope import CloudEvent, new_event

__all__ = ["CATALOG", "COMMANDS", "CloudEvent", "EventSpec", "new_event", "payload_model"]
