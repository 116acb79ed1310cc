"""CloudEvents 1.0 structured-mode JSON envelope (routing key = type)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CloudEvent(BaseModel):
    """The envelope on the wire. Extensions: workspaceid (always), requestid, traceparent."""

    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: str
    source: str
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    workspaceid: str
    requestid: str | None = None
    traceparent: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def new_event(
    type: str,
    data: BaseModel | dict[str, Any],
    *,
    workspace_id: str,
    source: str,
    subject: str | None = None,
    request_id: str | None = None,
    traceparent: str | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    """Build an event, validating `data` against the catalog's payload model for `type`."""
    from shared.events.catalog import payload_model

    model = payload_model(type)
    payload = data if isinstance(data, BaseModel) else model.model_validate(data)
    if not isinstance(payload, model):
        payload = model.model_validate(payload.model_dump())
    return CloudEvent(
        id=str(event_id or uuid.uuid4()),
        source=source,
        type=type,
        subject=subject,
        time=time or datetime.now(UTC),
        workspaceid=workspace_id,
        requestid=request_id,
        traceparent=traceparent,
        dataschema=f"urn:mediaops:schema:{type}",
        data=payload.model_dump(mode="json"),
    )
