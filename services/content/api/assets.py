"""Assets: a streamed multipart upload with a size limit, the type sniffed from the bytes,
sha256 de-duplication per workspace and image dimensions read from the header."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.content import repository as repo
from services.content import tables as t
from services.content.api.common import Maker, utc
from services.content.domain.media import SNIFF_BYTES, image_size, sniff
from services.content.storage import BlobStore, LocalStore, asset_key, default_root
from shared.errors import (
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from shared.http import CurrentPrincipal, Uow
from shared.http.app import PROBLEM_SCHEMA
from shared.service import ServiceContext

log = logging.getLogger("mediaops.content.assets")
router = APIRouter(prefix="/v1", tags=["assets"])

MULTIPART_OVERHEAD = 16 * 1024  # headers and boundaries around the file part


def store_of(ctx: ServiceContext) -> BlobStore:
    store = ctx.extras.get("asset_store")
    if store is None:
        if ctx.settings.s3_endpoint:
            from services.content.storage_s3 import S3Config, S3Store

            store = S3Store(S3Config.from_settings(ctx.settings))
        else:
            store = LocalStore(default_root(ctx.settings.storage_dir, ctx.settings.data_dir))
        ctx.extras["asset_store"] = store
    return store  # type: ignore[no-any-return]


def asset_json(a: t.Asset) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "sha256": a.sha256,
        "mime": a.mime,
        "kind": a.kind,
        "size_bytes": a.size_bytes,
        "width": a.width,
        "height": a.height,
        "filename": a.filename,
        "created_by": a.created_by,
        "created_at": utc(a.created_at),
        "content_url": f"v1/assets/{a.id}/content",
    }


class _TooLarge(Exception):
    pass


class _FilePart:
    """Receives the multipart callbacks; the first part with a filename (or named `file`)
    is streamed to `path`, hashed and counted; other parts are ignored."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.sha = hashlib.sha256()
        self.size = 0
        self.head = bytearray()
        self.filename: str | None = None
        self.done = False
        self._file: Any = None
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._active = False

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # callbacks
    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        filename = params.get(b"filename")
        name = params.get(b"name")
        self._active = not self.done and (filename is not None or name == b"file")
        if self._active:
            self.filename = filename.decode("utf-8", "replace") if filename else None
            self._file = open(self.path, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._active:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.limit:
            raise _TooLarge
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self.sha.update(chunk)
        self._file.write(chunk)

    def on_part_end(self) -> None:
        if self._active:
            self.close()
            self._active = False
            self.done = True


async def _receive_upload(request: Request, store: BlobStore, limit: int) -> tuple[_FilePart, Path]:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UnsupportedMediaType(
            "send the file as multipart/form-data (field `file`)", field="Content-Type"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"the upload is over {limit} bytes", field="file", limit=limit)
    temp = store.temp_path()
    part = _FilePart(temp, limit)
    callbacks = {
        name: getattr(part, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except _TooLarge:
        part.close()
        temp.unlink(missing_ok=True)
        raise PayloadTooLarge(
            f"the upload is over {limit} bytes", field="file", limit=limit
        ) from None
    except BaseException:
        part.close()
        temp.unlink(missing_ok=True)
        raise
    part.close()
    if not part.done:
        temp.unlink(missing_ok=True)
        raise Unprocessable("no file part in the upload (send it as field `file`)", field="file")
    return part, temp


@router.post(
    "/assets",
    status_code=201,
    summary="Upload a file (multipart field `file`): streamed with a size limit, type sniffed "
    "from its bytes, de-duplicated by sha256 (the same bytes answer the existing asset, 200)",
    responses={413: PROBLEM_SCHEMA, 415: PROBLEM_SCHEMA},
)
async def upload(request: Request, uow: Uow, principal: Maker) -> Any:
    ws = principal.workspace_id
    store = store_of(uow.ctx)
    part, temp = await _receive_upload(request, store, uow.ctx.settings.max_upload_bytes)
    try:
        sniffed = sniff(bytes(part.head))
        if sniffed is None:
            raise UnsupportedMediaType(
                "the file is not a supported type (png, jpeg, gif, webp, avif, heic, mp4, mov, "
                "webm, mp3, m4a, pdf); the type is read from its bytes, not its name",
                field="file",
            )
        if part.size == 0:
            raise Unprocessable("the file is empty", field="file")
        digest = part.sha.hexdigest()
        existing = await uow.session.scalar(
            select(t.Asset).where(t.Asset.workspace_id == ws, t.Asset.sha256 == digest)
        )
        if existing is not None:
            return JSONResponse(
                {**_encode(asset_json(existing)), "deduplicated": True}, status_code=200
            )
        dims = image_size(bytes(part.head), sniffed.mime)
        key = asset_key(ws, digest)
        await store.commit(temp, key)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    row = (
        await uow.session.execute(
            insert(t.Asset)
            .values(
                workspace_id=ws,
                sha256=digest,
                mime=sniffed.mime,
                kind=sniffed.kind,
                size_bytes=part.size,
                width=dims[0] if dims else None,
                height=dims[1] if dims else None,
                filename=(part.filename or "")[:500] or None,
                storage_key=key,
                created_by=principal.sub,
                created_at=uow.now(),
            )
            .on_conflict_do_nothing()
            .returning(t.Asset.id)
        )
    ).first()
    asset = await uow.session.scalar(
        select(t.Asset).where(t.Asset.workspace_id == ws, t.Asset.sha256 == digest)
    )
    assert asset is not None
    body = {**_encode(asset_json(asset)), "deduplicated": row is None}
    return JSONResponse(body, status_code=201 if row is not None else 200)


def _encode(data: dict[str, Any]) -> dict[str, Any]:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(data)  # type: ignore[no-any-return]


async def _asset(uow: Any, ws: str, asset_id: str) -> t.Asset:
    aid = repo.parse_uuid(asset_id, "asset")
    asset = await uow.session.scalar(
        select(t.Asset).where(t.Asset.id == aid, t.Asset.workspace_id == ws)
    )
    if asset is None:
        raise NotFound("no such asset", field="asset_id")
    return asset


@router.get("/assets/{asset_id}", summary="An asset's facts")
async def get_asset(asset_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    return asset_json(await _asset(uow, principal.workspace_id, asset_id))


@router.get(
    "/assets/{asset_id}/content",
    summary="The asset's bytes",
    response_class=StreamingResponse,
)
async def get_content(asset_id: str, uow: Uow, principal: CurrentPrincipal) -> Any:
    asset = await _asset(uow, principal.workspace_id, asset_id)
    store = store_of(uow.ctx)
    if not await store.exists(asset.storage_key):
        raise NotFound("the asset's bytes are missing from storage", field="asset_id")
    return StreamingResponse(
        store.read(asset.storage_key),
        media_type=asset.mime,
        headers={
            "ETag": f'"{asset.sha256}"',
            "Content-Length": str(asset.size_bytes),
            "Cache-Control": "private, max-age=31536000, immutable",
        },
    )
