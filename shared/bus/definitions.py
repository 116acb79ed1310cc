"""RabbitMQ definitions (the file `rabbitmqctl import_definitions` and the management plugin
load) generated from the code's topology, so deployment and code cannot drift apart."""

from __future__ import annotations

import re
from typing import Any

from shared.bus.amqp import AmqpBus
from shared.config import SERVICES, Settings


def topology_definitions(settings: Settings) -> dict[str, Any]:
    """queues, exchanges, bindings and policies exactly as AmqpBus declares them."""
    from shared.runtime import Runtime, topology

    settings = settings.model_copy(
        update={"database_url": settings.database_url or "postgresql://unused/none"}
    )
    runtime = Runtime(settings, SERVICES, roles=())
    bus = AmqpBus(settings)
    unrouted = f"{settings.amqp_prefix}mediaops.unrouted"

    def queue(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "vhost": "/",
            "durable": True,
            "auto_delete": False,
            "arguments": arguments,
        }

    queues = [queue(unrouted, {"x-max-length": 10000, "x-overflow": "drop-head"})]
    bindings: list[dict[str, Any]] = [
        {
            "source": unrouted,
            "vhost": "/",
            "destination": unrouted,
            "destination_type": "queue",
            "routing_key": unrouted,
            "arguments": {},
        }
    ]
    work: list[str] = []
    seen: set[str] = set()
    for ctx in runtime.contexts.values():
        for sub in topology(ctx):
            name = settings.queue(sub.queue)
            if name in seen:
                continue
            seen.add(name)
            work.append(name)
            queues.append(queue(name, bus._queue_args(name)))
            queues.append(queue(f"{name}.dlq", {}))
            for i, delay in enumerate(settings.retry_delays_ms, start=1):
                queues.append(
                    queue(
                        f"{name}.retry.{i}",
                        {
                            "x-message-ttl": int(delay),
                            "x-dead-letter-exchange": "",
                            "x-dead-letter-routing-key": name,
                        },
                    )
                )
            exchange = (
                settings.exchange_events if sub.exchange == "events" else settings.exchange_commands
            )
            for key in sub.routing_keys:
                bindings.append(
                    {
                        "source": exchange,
                        "vhost": "/",
                        "destination": name,
                        "destination_type": "queue",
                        "routing_key": key,
                        "arguments": {},
                    }
                )
    exchanges = [
        {
            "name": unrouted,
            "vhost": "/",
            "type": "fanout",
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {},
        },
        {
            "name": settings.exchange_events,
            "vhost": "/",
            "type": "topic",
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {"alternate-exchange": unrouted},
        },
        {
            "name": settings.exchange_commands,
            "vhost": "/",
            "type": "topic",
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {},
        },
    ]
    pattern = "^(" + "|".join(re.escape(n) for n in sorted(work)) + ")$"
    policies = [
        {
            "vhost": "/",
            "name": "mediaops-dead-letters",
            "pattern": "\\.dlq$",
            "apply-to": "queues",
            "priority": 10,
            "definition": {"queue-mode": "lazy"},
        },
        {
            "vhost": "/",
            "name": "mediaops-work-queues",
            "pattern": pattern,
            "apply-to": "queues",
            "priority": 10,
            "definition": {"delivery-limit": max(settings.max_attempts * 2, 10)},
        },
    ]
    return {"queues": queues, "exchanges": exchanges, "bindings": bindings, "policies": policies}
