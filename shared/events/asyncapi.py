"""AsyncAPI 3.0 document generated from the event catalog (the catalog is the truth)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events.catalog import CATALOG, EventSpec

ENVELOPE_REQUIRED = ["specversion", "id", "source", "type", "time", "workspaceid", "data"]


def _envelope_schema(data_ref: str, type_: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0, structured mode (JSON). Routing key = type.",
        "required": ENVELOPE_REQUIRED,
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {"type": "string", "description": "Unique per event; consumers dedupe by it."},
            "source": {"type": "string", "examples": ["/mediaops/planning"]},
            "type": {"type": "string", "const": type_},
            "subject": {"type": "string", "description": "The id of the entity concerned."},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"type": "string", "const": "application/json"},
            "dataschema": {"type": "string"},
            "workspaceid": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
            "requestid": {"type": "string", "description": "The HTTP request that caused it."},
            "traceparent": {"type": "string", "description": "W3C trace context."},
            "data": {"$ref": data_ref},
        },
    }


def _key(type_: str) -> str:
    return type_.replace(".", "_")


def build_asyncapi(
    *,
    services: tuple[str, ...] | None = None,
    exchange_events: str = "mediaops.events",
    exchange_commands: str = "mediaops.commands",
    server_host: str = "localhost:5672",
) -> dict[str, Any]:
    specs: list[EventSpec] = [
        s for s in CATALOG.values() if services is None or s.type.split(".")[1] in services
    ]
    models = sorted({s.model for s in specs}, key=lambda m: m.__name__)
    _, defs = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in sorted(specs, key=lambda s: s.type):
        key = _key(spec.type)
        exchange = exchange_commands if spec.command else exchange_events
        messages[key] = {
            "name": spec.type,
            "title": spec.type,
            "summary": spec.summary,
            "contentType": "application/cloudevents+json",
            "payload": _envelope_schema(f"#/components/schemas/{spec.model.__name__}", spec.type),
        }
        channels[key] = {
            "address": spec.type,
            "description": f"{'Command' if spec.command else 'Event'}: {spec.summary}",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": exchange,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[f"send_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"Published by the {spec.type.split('.')[1]} service.",
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "mediaops events",
            "version": "1.0.0",
            "description": (
                "Domain events of mediaops as CloudEvents 1.0 on the topic exchange "
                f"`{exchange_events}` (routing key = type; commands on `{exchange_commands}`). "
                "Delivery is at least once: dedupe by `id`. Bind your own queue to the types "
                "you need (wildcards: `mediaops.publisher.#`)."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "rabbitmq": {"host": server_host, "protocol": "amqp", "protocolVersion": "0-9-1"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
