"""Bits every planning router uses: role gates, ETag responses, list paging arguments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from shared.auth import Principal
from shared.http import etag, require_roles
from shared.http.app import PROBLEM_SCHEMA

# Who may do what (the whole workspace reads).
Manager = Annotated[Principal, Depends(require_roles("manager"))]
Approver = Annotated[Principal, Depends(require_roles("manager", "planner"))]
Proposer = Annotated[Principal, Depends(require_roles("manager", "planner", "editor"))]

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: PROBLEM_SCHEMA,
    412: PROBLEM_SCHEMA,
    428: PROBLEM_SCHEMA,
}


def tagged(body: Any, version: int, status_code: int = 200) -> JSONResponse:
    """A JSON answer carrying the resource's ETag."""
    return JSONResponse(
        jsonable_encoder(body), status_code=status_code, headers={"ETag": etag(version)}
    )


def utc(value: datetime | None) -> datetime | None:
    """Instants leave the API in UTC, whatever offset they came in with."""
    return value.astimezone(UTC) if value is not None else None
