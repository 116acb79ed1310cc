"""Fixtures of the fault tests: a fresh migrated database per test, real `mediaops` processes
on a unique AMQP prefix, fault proxies in front of PostgreSQL or RabbitMQ, and cleanup of
everything a test started (processes, proxies, queues, database)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from shared.config import SERVICES
from tests.conftest import settings_for_tests
from tests.support import infra
from tests.support.faultproxy import FaultProxy
from tests.support.processes import Cluster, Proc, free_port

ALL_ROLES = "manager,planner,editor,reviewer,analyst,designer,video,community"


@pytest_asyncio.fixture
async def fault_db() -> AsyncIterator[str]:
    """A fresh database migrated with every service's chain (about 1 s), dropped after."""
    infra.require(infra.PG_ADMIN_URL, "PostgreSQL")
    name = f"mediaops_faults_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = await infra.create_database(name)
    from shared.migrations import upgrade

    for service in SERVICES:
        await asyncio.to_thread(upgrade, service, url)
    yield url
    await infra.drop_database(name)


class Stack:
    """Processes of one fault test sharing a database, a broker prefix and a log folder."""

    def __init__(self, db_url: str, log_dir: Path, data_dir: Path, **env: str) -> None:
        self.prefix = infra.unique_prefix()
        self.db_url = db_url
        self.env: dict[str, str] = {
            **os.environ,
            "MEDIAOPS_ENV": "test",
            "DATABASE_URL": db_url,
            "AMQP_URL": infra.AMQP_URL,
            "MEDIAOPS_AMQP_PREFIX": self.prefix,
            "MEDIAOPS_QUEUE_TYPE": "classic",
            "MEDIAOPS_RETRY_DELAYS_MS": "[50,100,200]",
            "MEDIAOPS_MAX_ATTEMPTS": "3",
            "MEDIAOPS_RELAY_POLL_S": "0.05",
            "MEDIAOPS_LOG_LEVEL": "WARNING",
            "MEDIAOPS_DATA_DIR": str(data_dir),
            "MEDIAOPS_WRITE_RATE_PER_MINUTE": "1000000",
            "MEDIAOPS_DB_POOL_SIZE": "3",  # the PostgreSQL is shared with other sessions
            **env,
        }
        self.cluster = Cluster(env=self.env, log_dir=log_dir)
        self.proxies: list[FaultProxy] = []

    def settings(self, **overrides: Any) -> Any:
        return settings_for_tests(
            self.db_url, infra.AMQP_URL, MEDIAOPS_AMQP_PREFIX=self.prefix, **overrides
        )

    def proxy(self, url: str) -> FaultProxy:
        p = FaultProxy.for_url(url).start()
        self.proxies.append(p)
        return p

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        """A process with this stack's environment (plus `env`)."""
        proc = Proc(
            name, args, {**self.env, **(env or {})}, None, self.cluster.log_dir / f"{name}.log"
        )
        self.cluster.procs.append(proc)
        return proc.start()

    def service(self, name: str, env: dict[str, str] | None = None, wait: bool = True) -> Proc:
        port = free_port()
        proc = Proc(
            name,
            ["serve", name, "--port", str(port), "--host", "127.0.0.1"],
            {**self.env, **(env or {})},
            port,
            self.cluster.log_dir / f"{name}.log",
        )
        self.cluster.procs.append(proc)
        proc.start()
        if wait:
            self.cluster.wait_ready(proc)
        return proc

    def sandbox(self) -> Proc:
        port = free_port()
        proc = Proc(
            "sandbox",
            ["sandbox", "--port", str(port)],
            self.env,
            port,
            self.cluster.log_dir / "sandbox.log",
        )
        self.cluster.procs.append(proc)
        proc.start()
        self.cluster.wait_ready(proc, "/healthz")
        return proc

    async def close(self) -> None:
        self.cluster.stop_all()
        for p in self.proxies:
            p.stop()
        # Delete every queue and exchange of this prefix (declared again, then removed).
        from shared.runtime import Runtime

        runtime = Runtime(self.settings(), SERVICES, roles=[])
        try:
            await runtime.start()
            await runtime.stop()
        finally:
            await infra.delete_declared(runtime.bus)


@pytest_asyncio.fixture
async def stack(fault_db: str, tmp_path: Path) -> AsyncIterator[Callable[..., Stack]]:
    infra.require(infra.AMQP_URL, "RabbitMQ")
    made: list[Stack] = []

    def factory(**env: str) -> Stack:
        s = Stack(fault_db, tmp_path, tmp_path / f"data{len(made)}", **env)
        made.append(s)
        return s

    yield factory
    for s in made:
        await s.close()


async def poll(
    predicate: Callable[[], Awaitable[Any]], timeout: float, what: str, step: float = 0.1
) -> Any:
    """Call `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await predicate()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
