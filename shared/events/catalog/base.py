from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Consumers ignore fields they do not know, so adding a field is not a breaking change."""

    model_config = ConfigDict(extra="ignore")
