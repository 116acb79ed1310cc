"""Request and response models of the metrics API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.http import StrictModel

_POINT_EXAMPLE = {
    "publication_id": "5f0c2b4e-8d1a-4c7e-9a51-3c1f0e2d7b11",
    "metric": "reads",
    "value": 1520,
    "observed_at": "2026-03-02T10:00:00+08:00",
    "source": "wechat_export",
}


class PointRow(BaseModel):
    """The fields of a point, checked row by row inside a `PointsIn` batch whose text was
    already checked storable as a whole (so not walked again per row)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    publication_id: str | None = Field(None, min_length=1, max_length=64)
    account_id: str | None = Field(None, min_length=1, max_length=64)
    metric: str = Field(min_length=1, max_length=40)
    value: float = Field(strict=True)
    observed_at: datetime
    source: str | None = Field(None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")


class PointIn(StrictModel, PointRow):
    """One cumulative value as the platform reports it (e.g. reads so far)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_POINT_EXAMPLE]})


# A whole batch's rows in one validation call (the common case: no bad row).
POINT_ROWS: TypeAdapter[list[PointRow]] = TypeAdapter(list[PointRow])


class PointsIn(StrictModel):
    """A batch of points. Rows are validated one by one: good rows are stored, bad rows come
    back in `errors` with their index (each row has the shape of `PointIn`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"points": [_POINT_EXAMPLE]}]})

    points: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=10_000,
        description="Rows shaped like PointIn: {publication_id | account_id, metric, value, "
        "observed_at, source?}",
    )


class RowError(BaseModel):
    index: int
    field: str
    message: str
    line: int | None = None


class IngestResult(BaseModel):
    accepted: int = Field(description="Valid rows (duplicates of stored rows included)")
    rejected: int
    stored: int = Field(description="Rows new to the warehouse (the rest were duplicates)")
    duplicates: int
    errors: list[RowError]
    ignored_columns: list[str] | None = None


class CompetitorIn(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Rival Tea", "channel": "weibo", "handle": "rivaltea"}]
        }
    )

    name: str = Field(min_length=1, max_length=200)
    channel: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    handle: str | None = Field(None, max_length=200)


class CompetitorPointIn(StrictModel):
    metric: str = Field(min_length=1, max_length=40)
    value: float = Field(strict=True)
    observed_at: datetime
    source: str | None = Field(None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")


class CompetitorPointsIn(StrictModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "points": [
                        {
                            "metric": "followers",
                            "value": 120500,
                            "observed_at": "2026-03-08T23:00:00+08:00",
                        }
                    ]
                }
            ]
        }
    )

    points: list[dict[str, Any]] = Field(
        min_length=1, max_length=10_000, description="Rows shaped like CompetitorPointIn"
    )


class SettingsIn(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"timezone": "Asia/Shanghai"}]})

    timezone: str = Field(min_length=1, max_length=64)
