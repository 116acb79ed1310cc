from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def unstorable_text(value: Any, path: str = "") -> str | None:
    """The path of the first string PostgreSQL cannot store (NUL, unpaired surrogates)."""
    if isinstance(value, str):
        if "\x00" in value:
            return path or "value"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "value"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = unstorable_text(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = unstorable_text(v, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


class StrictModel(BaseModel):
    """Request bodies: unknown fields are a 422 naming the field (no mass assignment), and
    text PostgreSQL cannot store (NUL bytes, unpaired surrogates) is refused up front."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        bad = unstorable_text(data)
        if bad:
            raise ValueError(f"{bad}: text contains a NUL byte or an unpaired surrogate")
        return data
