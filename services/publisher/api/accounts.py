"""`/v1/accounts`: channel accounts; credentials go in, never come out."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import and_, or_, select

from services.publisher.api.schemas import AccountIn, AccountPatch
from services.publisher.bootstrap import credential_box
from services.publisher.connectors.registry import known_channels
from services.publisher.connectors.ssrf import UnsafeUrl, check_url
from services.publisher.credentials import merge_credentials
from services.publisher.domain.errors import DomainError
from services.publisher.domain.scheduling import QuotaPolicy, parse_slot, zone
from services.publisher.repository import account_json, get_account
from services.publisher.tables import Account, Publication
from shared.auth import Principal
from shared.errors import Unprocessable
from shared.http import (
    CurrentPrincipal,
    Uow,
    check_if_match,
    decode_cursor,
    encode_cursor,
    etag,
    require_roles,
)
from shared.http.app import PROBLEM_SCHEMA
from shared.http.idempotency import idempotent_create

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
Manager = Annotated[Principal, Depends(require_roles("manager", "community"))]

# Settings that hold a URL a user chose: checked against SSRF before they are stored.
URL_SETTINGS = ("url", "webhook_url", "instance", "instance_url", "feed_url", "site_url")


async def validate_settings(settings: dict[str, Any], allow_list: list[str]) -> dict[str, Any]:
    out = dict(settings)
    try:
        if "timezone" in out:
            zone(str(out["timezone"]))
        for slot in out.get("slots") or []:
            parse_slot(slot)
    except DomainError as exc:
        raise Unprocessable(exc.message, field=f"settings.{exc.field}") from exc
    if out.get("daily_quota") is not None:
        q = out["daily_quota"]
        if not isinstance(q, int) or isinstance(q, bool) or q < 1:
            raise Unprocessable(
                "daily_quota must be a positive integer", field="settings.daily_quota"
            )
    if "quota_policy" in out:
        try:
            QuotaPolicy(out["quota_policy"])
        except ValueError:
            raise Unprocessable(
                "quota_policy must be refuse or warn", field="settings.quota_policy"
            ) from None
    for key in URL_SETTINGS:
        value = out.get(key)
        if value is None:
            continue
        if key == "instance" and isinstance(value, str) and "://" not in value:
            value = f"https://{value}"
        try:
            await asyncio.to_thread(check_url, str(value), allow_list)
        except UnsafeUrl as exc:
            raise Unprocessable(f"{key}: {exc.reason}", field=f"settings.{key}") from exc
    return out


@router.post(
    "",
    status_code=201,
    summary="Connect a channel account",
    responses={
        201: {"description": "The account (credentials never returned)"},
        422: PROBLEM_SCHEMA,
    },
)
async def create_account(body: AccountIn, uow: Uow, principal: Manager, request: Request) -> Any:
    if body.channel not in known_channels():
        raise Unprocessable(
            f"unknown channel {body.channel!r}; known: {', '.join(known_channels())}",
            field="channel",
        )
    settings = await validate_settings(body.settings, uow.ctx.settings.url_allow_list)
    box = credential_box(uow.ctx)

    async def create() -> tuple[int, Any, dict[str, str]]:
        row = Account(
            workspace_id=principal.workspace_id,
            channel=body.channel,
            name=body.name,
            settings=settings,
            credentials_enc=box.encrypt(body.credentials),
            credential_keys=sorted(k for k, v in body.credentials.items() if v),
            token_expires_at=_expiry(body.credentials),
            status="active",
            version=1,
        )
        uow.session.add(row)
        await uow.session.flush()
        await uow.session.refresh(row)
        return 201, account_json(row), {"ETag": etag(row.version)}

    return await idempotent_create(request, uow, principal.workspace_id, body, create)


def _expiry(credentials: dict[str, Any]) -> Any:
    from datetime import datetime

    raw = credentials.get("expires_at")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise Unprocessable(
            "expires_at is not an ISO 8601 time", field="credentials.expires_at"
        ) from None
    if value.tzinfo is None:
        raise Unprocessable("expires_at needs an offset", field="credentials.expires_at")
    return value


@router.get("", summary="List accounts")
async def list_accounts(
    uow: Uow,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    stmt = select(Account).where(Account.workspace_id == principal.workspace_id)
    after = decode_cursor(cursor)
    if after is not None:
        ts, id_ = after
        stmt = stmt.where(
            or_(Account.created_at > ts, and_(Account.created_at == ts, Account.id > id_))
        )
    rows = (
        await uow.session.scalars(stmt.order_by(Account.created_at, Account.id).limit(limit + 1))
    ).all()
    nxt = (
        encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    )
    return {"items": [account_json(r) for r in rows[:limit]], "next_cursor": nxt}


@router.get("/{account_id}", summary="One account", responses={404: PROBLEM_SCHEMA})
async def read_account(account_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    row = await get_account(uow.session, principal.workspace_id, account_id)
    return JSONResponse(jsonable_encoder(account_json(row)), headers={"ETag": etag(row.version)})


@router.patch(
    "/{account_id}",
    summary="Change an account (If-Match required); new credentials merge with the old",
    responses={404: PROBLEM_SCHEMA, 412: PROBLEM_SCHEMA, 428: PROBLEM_SCHEMA},
)
async def patch_account(
    account_id: str, body: AccountPatch, uow: Uow, principal: Manager, request: Request
) -> Any:
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    row = await get_account(uow.session, principal.workspace_id, account_id, lock=True)
    check_if_match(request, row.version, required=True)
    if body.name is not None:
        row.name = body.name
    if body.settings is not None:
        row.settings = await validate_settings(body.settings, uow.ctx.settings.url_allow_list)
    reauthorised = False
    if body.credentials is not None:
        box = credential_box(uow.ctx)
        merged = merge_credentials(box.decrypt(row.credentials_enc), body.credentials)
        row.credentials_enc = box.encrypt(merged)
        row.credential_keys = sorted(k for k, v in merged.items() if v)
        row.token_expires_at = _expiry(merged)
        if row.status == "needs_reauth":
            row.status, row.status_reason, reauthorised = "active", None, True
    if body.status is not None:
        reauthorised = reauthorised or (body.status == "active" and row.status == "needs_reauth")
        row.status = body.status
        if body.status == "active":
            row.status_reason = None
    if reauthorised:
        await resume_waiting(uow, row)
    row.version += 1
    await uow.session.flush()
    await uow.session.refresh(row)
    return JSONResponse(jsonable_encoder(account_json(row)), headers={"ETag": etag(row.version)})


async def resume_waiting(uow: Any, account: Account) -> None:
    """Publications that waited for re-authorisation are due again."""
    from services.publisher.domain.publications import resume_after_reauth
    from services.publisher.repository import apply_state, to_state

    now = uow.now()
    rows = (
        await uow.session.scalars(
            select(Publication)
            .where(
                Publication.account_id == account.id,
                Publication.status == "scheduled",
                Publication.waiting_reauth.is_(True),
            )
            .with_for_update()
        )
    ).all()
    for pub in rows:
        apply_state(pub, resume_after_reauth(to_state(pub), now))
