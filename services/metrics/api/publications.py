"""A post's numbers: latest values, checkpoint history and the diagnosis of its weak spots."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.metrics.domain.dictionary import with_derived
from services.metrics.reporting import diagnose_post
from services.metrics.repository import get_publication, latest_values, snapshots
from services.metrics.warehouse import publication_series, read_transaction
from shared.errors import NotFound
from shared.http import CurrentPrincipal, Uow

router = APIRouter(prefix="/v1", tags=["publications"])


@router.get(
    "/publications/{publication_id}",
    summary="Latest values per metric (derived included), checkpoint history and diagnosis",
)
async def get_publication_metrics(
    publication_id: Annotated[str, Path(max_length=64)], uow: Uow, principal: CurrentPrincipal
) -> dict[str, Any]:
    ws = principal.workspace_id
    info = await get_publication(uow.session, ws, publication_id)
    if info is None:
        raise NotFound("no such publication in this workspace", field="publication_id")
    latest, observed_at = await latest_values(uow.session, ws, publication_series(publication_id))
    async with read_transaction(uow.session):
        history = await snapshots(uow.session, ws, publication_id)
        findings = await diagnose_post(
            uow.session, ws, publication_id, info.channel, info.format, info.published_at
        )
    return {
        "publication_id": info.publication_id,
        "item_id": info.item_id,
        "channel": info.channel,
        "account_id": info.account_id,
        "format": info.format,
        "pillar": info.pillar,
        "campaign_id": info.campaign_id,
        "title": info.title,
        "published_at": info.published_at.isoformat(),
        "latest": with_derived(latest),
        "latest_observed_at": observed_at.isoformat() if observed_at else None,
        "checkpoints": [
            {
                "checkpoint": h["checkpoint"],
                "captured_at": h["captured_at"].isoformat(),
                "values": with_derived({k: float(v) for k, v in h["values"].items()}),
            }
            for h in history
        ],
        "diagnosis": [{"checkpoint": cp, **d.as_dict()} for cp, d in findings],
    }
