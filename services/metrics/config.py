"""Settings of the metrics service (environment), overridable per context for tests.

The kernel's Settings ignores variables it does not know, so the metrics service reads its
own here: `MEDIAOPS_METRICS_*`. Tests and `bootstrap` may put a `MetricsConfig` in
`ctx.extras["metrics_config"]` instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class MetricsConfig:
    # How often the analyst looks at each workspace (goals, insights, scheduled report).
    analyst_interval_s: float = 300.0
    # Raw platform payloads older than this are purged (the normalised values stay).
    raw_retention_days: int = 90
    # goal.progressed debounce (domain/goals.should_emit).
    goal_emit_min_interval_s: float = 60.0
    goal_emit_min_change: float = 0.0
    # Points with observed_at later than now + this are refused as "in the future".
    max_clock_skew_s: float = 300.0
    # Batch size limit of POST /v1/points.
    max_points_per_batch: int = 10_000
    # The rollup worker: idle poll interval, queued observations applied per transaction and
    # transactions at once per process (each on its own workspace shard).
    rollup_interval_s: float = 0.2
    rollup_batch: int = 20_000
    rollup_concurrency: int = 2
    # Insights: how far back posts are considered.
    insight_window_days: int = 90

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> MetricsConfig:
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = source.get(f"MEDIAOPS_METRICS_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = int if f.type in ("int", int) else float
            try:
                values[f.name] = kind(raw)
            except ValueError as exc:
                raise ValueError(f"MEDIAOPS_METRICS_{f.name.upper()} must be a number") from exc
        return cls(**values)


def config_of(ctx: Any) -> MetricsConfig:
    """The config of a service context (extras override, else the environment, cached)."""
    cfg = ctx.extras.get("metrics_config")
    if cfg is None:
        cfg = MetricsConfig.from_env()
        ctx.extras["metrics_config"] = cfg
    assert isinstance(cfg, MetricsConfig)
    return cfg
