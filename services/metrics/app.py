"""The metrics service's ASGI app."""

from __future__ import annotations

from fastapi import FastAPI

from shared.http.app import create_service_app
from shared.service import ServiceContext


def create_app(ctx: ServiceContext) -> FastAPI:
    return create_service_app(ctx)
