"""HTTP edge shared by the four services: app factory, errors, auth, unit of work, helpers."""

from shared.http.deps import (
    CurrentPrincipal,
    UnitOfWork,
    Uow,
    context_of,
    open_unit_of_work,
    require_roles,
)
from shared.http.etag import check_if_match, etag
from shared.http.idempotency import idempotent_create
from shared.http.pagination import Page, decode_cursor, encode_cursor
from shared.http.schemas import StrictModel

__all__ = [
    "CurrentPrincipal",
    "Page",
    "StrictModel",
    "UnitOfWork",
    "Uow",
    "check_if_match",
    "context_of",
    "decode_cursor",
    "encode_cursor",
    "etag",
    "idempotent_create",
    "open_unit_of_work",
    "require_roles",
]
