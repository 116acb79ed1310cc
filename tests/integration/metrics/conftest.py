from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from services.metrics.app import create_app
from services.metrics.config import MetricsConfig
from shared.service import ServiceContext
from tests.conftest import client_for, make_token, settings_for_tests
from tests.integration.metrics.support import deliver, settled


@dataclass
class MetricsApp:
    settings: Any
    ctx: ServiceContext
    app: Any
    ws: str  # a workspace of its own per test

    def client(self, roles: str = "analyst", workspace: str | None = None) -> Any:
        token = make_token(self.settings, workspace or self.ws, roles, "ana")
        return client_for(self.app, token)

    async def deliver(self, type_: str, data: dict[str, Any]) -> str:
        return await deliver(self.ctx, type_, data, self.ws)

    async def settled(self) -> None:
        """Wait (bounded) for the rollup worker to apply this workspace's stored points."""
        await settled(self.ctx, self.ws)


@pytest.fixture
async def metrics(pg_url, make_runtime) -> MetricsApp:  # type: ignore[no-untyped-def]
    settings = settings_for_tests(pg_url)
    config = MetricsConfig(goal_emit_min_interval_s=0, rollup_interval_s=0.02)
    runtime = await make_runtime(
        settings, ["metrics"], roles=["api", "metrics.rollup"], extras={"metrics_config": config}
    )
    ctx = runtime.contexts["metrics"]
    return MetricsApp(settings, ctx, create_app(ctx), f"ws-{uuid.uuid4().hex[:8]}")
