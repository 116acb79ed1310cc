"""HTTP routers of the metrics service."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from services.metrics.api import (
        competitors,
        goals,
        insights,
        points,
        publications,
        reports,
        settings,
    )

    return [
        points.router,
        publications.router,
        goals.router,
        reports.router,
        insights.router,
        competitors.router,
        settings.router,
    ]
