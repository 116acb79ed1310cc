"""SQLAlchemy tables of the metrics service, all in its own `metrics` schema."""

from __future__ import annotations

from shared.db import make_base

Base = make_base("metrics")
metadata = Base.metadata
