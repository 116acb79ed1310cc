"""A fast JSON response: orjson with a small default instead of jsonable_encoder's walk
(which measured ~6 % of a simple GET) or json.dumps (~5 % of a GET item)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from starlette.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# orjson encodes datetimes, UUIDs and enums itself, as isoformat()/str()/value do; these
# options keep the rest as json.dumps wrote it (int dict keys as strings; a dataclass goes to
# `_default` like before).
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body, default=_default, option=_OPTIONS)
    except TypeError:
        # what orjson refuses and json takes (integers past 64 bits, NaN as NaN, ...)
        return json.dumps(
            body, default=_default, ensure_ascii=False, separators=(",", ":")
        ).encode()


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        dumps(body), status_code=status_code, headers=headers, media_type="application/json"
    )
