"""Composition root of the publisher's processes: connectors, credential box, limiter.

Everything is built once per process on first use and kept in `ctx.extras`; tests put their
own `ConnectorRegistry` (real connector classes with an injected transport) there first.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from services.publisher.config import publisher_config
from services.publisher.connectors.registry import (
    ConnectorRegistry,
    build_connector,
    known_channels,
)
from services.publisher.credentials import CredentialBox
from services.publisher.feeds import DbFeedStore
from shared.service import ServiceContext

log = logging.getLogger("mediaops.publisher")

REGISTRY = "publisher_connectors"
BOX = "publisher_credentials"


def credential_box(ctx: ServiceContext) -> CredentialBox:
    box = ctx.extras.get(BOX)
    if box is None:
        box = ctx.extras[BOX] = CredentialBox(ctx.settings.credentials_keys)
    return box  # type: ignore[no-any-return]


def connectors(ctx: ServiceContext) -> ConnectorRegistry:
    registry = ctx.extras.get(REGISTRY)
    if registry is None:
        registry = ctx.extras[REGISTRY] = build_registry(ctx)
    return registry  # type: ignore[no-any-return]


def sandbox_client(timeout_s: float, connections: int) -> httpx.AsyncClient:
    """The sandbox is one internal plain-HTTP host called hundreds of times a second: a lean
    keep-alive transport (see services.publisher.keepalive) instead of httpcore's pool."""
    from services.publisher.connectors.http import USER_AGENT
    from services.publisher.keepalive import KeepAliveTransport

    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        transport=KeepAliveTransport(max_connections=connections),
        headers={"User-Agent": USER_AGENT},
    )


def build_registry(ctx: ServiceContext) -> ConnectorRegistry:
    """Every channel that can be built here. The sandbox is operator configuration (its base
    URL is not a user URL), so it gets a plain client; user-URL channels get the SSRF guard."""
    from services.publisher.connectors.http import build_client
    from services.publisher.connectors.ssrf import UrlGuard

    cfg = publisher_config(ctx)
    guard = UrlGuard(tuple(ctx.settings.url_allow_list))
    deps: dict[str, Any] = {
        "client": build_client(guard=guard),
        "guard": guard,
        "clock": ctx.clock,
        "store": DbFeedStore(ctx.db),
    }
    channels = [c for c in known_channels() if c != "sandbox"]
    registry = ConnectorRegistry.build(channels, **deps)
    if ctx.settings.sandbox_url:
        try:
            registry.register(
                build_connector(
                    "sandbox",
                    base_url=ctx.settings.sandbox_url,
                    client=lambda: sandbox_client(cfg.connector_timeout_s, cfg.http_connections),
                    timeout=cfg.connector_timeout_s,
                    clock=ctx.clock,
                )
            )
        except Exception as exc:  # a broken module must not stop the publisher
            registry.skipped["sandbox"] = str(exc)
    else:
        registry.skipped["sandbox"] = "MEDIAOPS_SANDBOX_URL is not set"
    for channel, why in registry.skipped.items():
        log.warning("channel %s unavailable: %s", channel, why)
    return registry
