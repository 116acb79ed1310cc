"""Real PostgreSQL and RabbitMQ for tests: a fresh database per session, a fresh AMQP
prefix per test. Under CI=true an unreachable server is a failure, never a skip."""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlparse

import pytest

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), 2):
            return True
    except OSError:
        return False


def require(url: str, what: str) -> None:
    if reachable(url):
        return
    message = f"{what} is not reachable at {urlparse(url).netloc}; `./run test` starts it"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def create_database(name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


async def delete_declared(bus: object) -> None:
    """Remove every queue and exchange an AmqpBus declared (tests use unique prefixes)."""
    import aio_pika

    queues = set(getattr(bus, "declared_queues", ()))
    exchanges = set(getattr(bus, "declared_exchanges", ()))
    if not queues and not exchanges:
        return
    conn = await aio_pika.connect(AMQP_URL)
    try:
        ch = await conn.channel()
        for q in queues:
            await ch.queue_delete(q)
        for x in exchanges:
            await ch.exchange_delete(x)
        await ch.close()
    finally:
        await conn.close()
