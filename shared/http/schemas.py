from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Request bodies: unknown fields are a 422 naming the field (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
