"""SQLAlchemy tables of the publisher service, all in its own `publisher` schema."""

from __future__ import annotations

from shared.db import make_base

Base = make_base("publisher")
metadata = Base.metadata
