"""Shared fixtures. Infrastructure tests use the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shared.config import SERVICES, Settings
from tests.support import infra


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest_asyncio.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    """A fresh database for this test session, migrated with every service's Alembic chain."""
    infra.require(infra.PG_ADMIN_URL, "PostgreSQL")
    name = f"mediaops_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = await infra.create_database(name)
    from shared.migrations import upgrade

    for service in SERVICES:
        await asyncio.to_thread(upgrade, service, url)
    # Test-only services of the kernel tests (not part of the product) are created directly.
    from shared.db import Database
    from tests.support.probe import PROBE, SINK

    db = Database(url)
    async with db.engine.begin() as conn:
        for spec in (PROBE, SINK):
            await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{spec.schema}"')
            await conn.run_sync(spec.metadata.create_all)
    await db.dispose()
    yield url
    await infra.drop_database(name)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    infra.require(infra.AMQP_URL, "RabbitMQ")
    return infra.AMQP_URL


def settings_for_tests(
    database_url: str, amqp_url: str | None = None, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "MEDIAOPS_ENV": "test",
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "MEDIAOPS_AMQP_PREFIX": infra.unique_prefix() if amqp_url else "",
        "MEDIAOPS_RETRY_DELAYS_MS": [50, 100, 200],
        "MEDIAOPS_MAX_ATTEMPTS": 3,
        "MEDIAOPS_RELAY_POLL_S": 0.2,
        "MEDIAOPS_QUEUE_TYPE": "classic",
        "MEDIAOPS_WRITE_RATE_PER_MINUTE": 100000,
    }
    values.update(overrides)
    return Settings(**values)


@pytest_asyncio.fixture
async def make_runtime() -> AsyncIterator[Callable[..., Any]]:
    """Build and start a Runtime; everything it started is stopped and its queues deleted."""
    from shared.runtime import Runtime

    started: list[Runtime] = []

    async def factory(
        settings: Settings,
        services: Iterable[Any] = SERVICES,
        roles: Iterable[str] = ("api",),
        start: bool = True,
        **kw: Any,
    ) -> Runtime:
        runtime = Runtime(settings, services, roles=roles, **kw)
        started.append(runtime)
        if start:
            await runtime.start()
        return runtime

    yield factory
    for runtime in started:
        await runtime.stop()
        await infra.delete_declared(runtime.bus)


def client_for(app: Any, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://test",
        headers=headers,
    )


def make_token(
    settings: Settings,
    workspace: str = "ws-a",
    roles: str = "manager",
    sub: str = "alice",
    ttl: int = 3600,
) -> str:
    from shared.auth import mint_token

    return mint_token(settings, workspace=workspace, roles=roles.split(","), sub=sub, ttl_s=ttl)
