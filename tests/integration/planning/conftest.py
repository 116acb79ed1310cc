"""Fixtures for the planning service's integration tests: the app on the session database."""

from __future__ import annotations

import pytest

from services.planning.app import create_app
from tests.conftest import settings_for_tests

from .support import Clock, Planning


@pytest.fixture
async def planning(pg_url, make_runtime) -> Planning:  # type: ignore[no-untyped-def]
    settings = settings_for_tests(pg_url)
    clock = Clock()
    runtime = await make_runtime(settings, ["planning"], roles=["api"], clock=clock)
    return Planning(settings, create_app(runtime.contexts["planning"]), runtime, clock)
