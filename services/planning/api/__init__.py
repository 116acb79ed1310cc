"""HTTP routers of the planning service."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from services.planning.api import (
        calendar,
        campaigns,
        goals,
        strategy,
        suggestions,
        topics,
        workspace,
    )

    return [
        workspace.router,
        goals.router,
        strategy.router,
        topics.router,
        calendar.router,
        campaigns.router,
        suggestions.router,
    ]
