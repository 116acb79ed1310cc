"""The bus: a narrow interface with two implementations (aio-pika and in-process).

Durability comes from the outbox in both; the AMQP bus adds at-least-once delivery across
processes with confirms, durable queues, bounded retries and a dead-letter queue.
"""

from shared.bus.base import (
    Bus,
    DeadLetter,
    Delivery,
    Handler,
    Message,
    PoisonMessage,
    Subscription,
    topic_matches,
)


def create_bus(settings: object) -> Bus:
    """AMQP when AMQP_URL is set, else the in-process bus."""
    from shared.config import Settings

    assert isinstance(settings, Settings)
    if settings.amqp_url:
        from shared.bus.amqp import AmqpBus

        return AmqpBus(settings)
    from shared.bus.memory import MemoryBus

    return MemoryBus(settings)


__all__ = [
    "Bus",
    "DeadLetter",
    "Delivery",
    "Handler",
    "Message",
    "PoisonMessage",
    "Subscription",
    "create_bus",
    "topic_matches",
]
