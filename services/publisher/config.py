"""The publisher's own tunables (environment `MEDIAOPS_PUBLISHER_*`); tests pass a
`PublisherConfig` in `ctx.extras["publisher_config"]` instead."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.service import ServiceContext


class PublisherConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIAOPS_PUBLISHER_", extra="ignore")

    claim_batch: int = Field(500, ge=1, le=5000)
    scheduler_poll_s: float = Field(0.5, gt=0)
    # A publication due and not dispatched after this long is overdue (event + gauge).
    overdue_after_s: float = Field(300.0, gt=0)
    # `dispatching` longer than this: the worker died; reconcile before anything else.
    dispatch_lease_s: float = Field(600.0, gt=0)
    reconcile_delay_s: float = Field(5.0, ge=0)
    connector_timeout_s: float = Field(10.0, gt=0)
    backoff_base_s: float = Field(2.0, gt=0)
    backoff_cap_s: float = Field(900.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    # A platform's Retry-After is honoured up to this (a bound on how long one post waits).
    max_defer_s: float = Field(3600.0, ge=0)
    # Per account: calls at once in one worker process, and a token bucket.
    account_concurrency: int = Field(4, ge=1)
    account_rate_per_s: float = Field(50.0, gt=0)
    account_burst: float = Field(50.0, ge=1)
    channel_rate_per_s: float = Field(1000.0, gt=0)
    channel_burst: float = Field(1000.0, ge=1)
    # Dispatch micro-batches (per worker process): up to this many commands share tx1 and
    # tx2; a batch waits at most `dispatch_batch_wait_s` for more once its first one arrived
    # (never when every prefetched message is already in hand).
    dispatch_batch_max: int = Field(100, ge=1, le=1000)
    dispatch_batch_wait_s: float = Field(0.005, ge=0)
    dispatch_batches_in_flight: int = Field(4, ge=1, le=100)
    # Connections kept to the sandbox platform per worker process (calls beyond wait for one).
    http_connections: int = Field(16, ge=1, le=1000)
    # Reaper, overdue alarms and reconciliation dispatch run this often (claims: every poll).
    maintenance_poll_s: float = Field(1.0, gt=0)
    # The scheduler's gauges (queue depth, consumers, overdue counts) at most this often.
    gauges_every_s: float = Field(1.0, gt=0)
    refresh_poll_s: float = Field(60.0, gt=0)
    refresh_ahead_s: float = Field(900.0, ge=0)
    poller_poll_s: float = Field(5.0, gt=0)
    poller_batch: int = Field(200, ge=1)


def publisher_config(ctx: ServiceContext) -> PublisherConfig:
    cfg = ctx.extras.get("publisher_config")
    if cfg is None:
        cfg = ctx.extras["publisher_config"] = PublisherConfig()
    return cfg  # type: ignore[no-any-return]
