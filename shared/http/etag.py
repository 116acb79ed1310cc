from __future__ import annotations

from fastapi import Request

from shared.errors import PreconditionFailed, PreconditionRequired


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(request: Request, current_version: int, *, required: bool = False) -> None:
    """Optimistic concurrency: a stale If-Match is a 412; a missing one is 428 when required."""
    header = request.headers.get("if-match")
    if header is None:
        if required:
            raise PreconditionRequired(
                "send If-Match with the ETag you last read", field="If-Match"
            )
        return
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    if "*" in tags or etag(current_version) in tags:
        return
    raise PreconditionFailed(
        f"the resource changed: current ETag is {etag(current_version)}",
        field="If-Match",
        current_etag=etag(current_version),
    )
