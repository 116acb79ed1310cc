"""SQLAlchemy tables of the content service, all in its own `content` schema."""

from __future__ import annotations

from shared.db import make_base

Base = make_base("content")
metadata = Base.metadata
