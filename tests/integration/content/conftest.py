"""Fixtures for the content service's integration tests: the app on the session database."""

from __future__ import annotations

import pytest

from services.content.app import create_app
from tests.conftest import settings_for_tests

from .support import Clock, Content


@pytest.fixture
async def content(pg_url, make_runtime, tmp_path) -> Content:  # type: ignore[no-untyped-def]
    storage = tmp_path / "assets"
    settings = settings_for_tests(
        pg_url, MEDIAOPS_STORAGE_DIR=str(storage), MEDIAOPS_MAX_UPLOAD_BYTES=200_000
    )
    clock = Clock()
    runtime = await make_runtime(settings, ["content"], roles=["api"], clock=clock)
    return Content(settings, create_app(runtime.contexts["content"]), runtime, clock, storage)
