"""HTTP routers of the publisher service."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from services.publisher.api import accounts, misc, publications
    from services.publisher.webhooks import api as webhooks

    return [accounts.router, publications.router, misc.router, webhooks.router]
