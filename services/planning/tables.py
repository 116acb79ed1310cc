"""SQLAlchemy tables of the planning service, all in its own `planning` schema."""

from __future__ import annotations

from shared.db import make_base

Base = make_base("planning")
metadata = Base.metadata
