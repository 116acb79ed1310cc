"""Week, month or custom-range reports in the workspace zone: JSON, CSV or HTML with SVG."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.metrics import reporting
from services.metrics.domain.dictionary import METRICS
from services.metrics.domain.errors import DomainError
from services.metrics.domain.reports import (
    custom_range,
    report_range,
    report_to_csv,
    report_to_html,
)
from services.metrics.repository import local_day
from services.metrics.warehouse import workspace_timezone
from shared.errors import Unprocessable
from shared.http import CurrentPrincipal, Uow

router = APIRouter(prefix="/v1", tags=["reports"])


def _wants(request: Request, format: str | None) -> str:
    if format:
        return format
    accept = request.headers.get("accept", "").lower()
    if "text/csv" in accept:
        return "csv"
    if "text/html" in accept and "application/json" not in accept:
        return "html"
    return "json"


@router.get(
    "/reports",
    summary="A report: totals and change vs the previous period, breakdowns, top and bottom "
    "posts with their diagnosis, goals, competitors",
    description="`Accept: text/csv` answers CSV, `Accept: text/html` (or `format=html`) the "
    "readable page with SVG charts. A week starts on Monday in the workspace zone; any `start` "
    "is snapped to its week or month. `period=custom` needs `end` and covers at most a year.",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            }
        }
    },
)
async def get_report(
    request: Request,
    uow: Uow,
    principal: CurrentPrincipal,
    period: Literal["week", "month", "custom"] = "week",
    start: date | None = None,
    end: Annotated[date | None, Query(description="last day, with period=custom")] = None,
    format: Literal["json", "csv", "html"] | None = None,
    primary_metric: Annotated[str, Query(max_length=40)] = "engagements",
    top: Annotated[int, Query(ge=1, le=50)] = 5,
) -> Response:
    ws = principal.workspace_id
    tz = await workspace_timezone(uow.session, ws)
    now = uow.now()
    if primary_metric not in METRICS:
        raise Unprocessable(f"unknown metric {primary_metric!r}", field="primary_metric")
    first = start or local_day(now, tz)
    try:
        if period == "custom":
            if end is None:
                raise Unprocessable("period=custom needs end", field="end")
            window = custom_range(first, end, tz)
        else:
            window = report_range(period, first, tz)
    except DomainError as exc:
        raise Unprocessable(exc.message, field=exc.field) from None
    body = await reporting.build(uow.session, ws, window, tz, now, primary_metric, top)
    wanted = _wants(request, format)
    if wanted == "csv":
        name = f"report-{window.kind}-{window.first_day.isoformat()}.csv"
        return Response(
            report_to_csv(body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    if wanted == "html":
        return HTMLResponse(report_to_html(body))
    return JSONResponse(body)
