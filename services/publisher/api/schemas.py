"""Request models of the publisher API (responses are plain JSON built in repository.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shared.http import StrictModel


class AccountIn(StrictModel):
    channel: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] = Field(default_factory=dict)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "channel": "sandbox",
                    "name": "Brand sandbox",
                    "settings": {
                        "timezone": "Europe/Berlin",
                        "slots": ["09:00", "18:30"],
                        "daily_quota": 3,
                        "quota_policy": "refuse",
                        "handle": "brand",
                    },
                    "credentials": {"token": "s3cret"},
                }
            ]
        }
    }


class AccountPatch(StrictModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    credentials: dict[str, Any] | None = None
    status: Literal["active", "disabled"] | None = None

    model_config = {
        "json_schema_extra": {"examples": [{"status": "active", "credentials": {"token": "new"}}]}
    }


class RecurrenceIn(StrictModel):
    frequency: Literal["daily", "weekly"]
    interval: int = Field(1, ge=1, le=52)
    count: int | None = Field(None, ge=1, le=52)
    until: datetime | None = None


class PublicationIn(StrictModel):
    item_id: str = Field(min_length=1, max_length=64)
    variant_id: str | None = Field(None, max_length=64)
    account_id: str = Field(min_length=1, max_length=64)
    scheduled_at: datetime | None = None
    mode: Literal["asap", "at", "next_slot"] | None = None
    recurrence: RecurrenceIn | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "item_id": "2f4c7a9e-0000-4000-8000-000000000001",
                    "account_id": "7d0e8a36-0000-4000-8000-000000000002",
                    "scheduled_at": "2026-03-30T09:00:00+02:00",
                },
                {"item_id": "...", "account_id": "...", "mode": "next_slot"},
            ]
        }
    }
