"""HTTP routers of the content service."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from services.content.api import (
        assets,
        compliance,
        items,
        reviews,
        settings,
        tasks,
        variants,
    )

    return [
        items.router,
        tasks.router,
        variants.router,
        reviews.router,
        compliance.router,
        settings.router,
        assets.router,
    ]
