"""Where asset bytes live: a small interface, and the local-disk store used by default.

Keys are content addressed (`<workspace>/<sha256[:2]>/<sha256>`), so writing the same bytes
twice is harmless. Uploads are first streamed to a temporary file inside the store's own
`.tmp/` folder (same filesystem, so `commit` is an atomic rename) and removed on any
failure: a failed upload leaves nothing behind.

`storage_s3.S3Store` implements the same four methods on S3-compatible storage, chosen when
`MEDIAOPS_S3_ENDPOINT` is set (see `api/assets.store_of`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import anyio

CHUNK = 256 * 1024


class BlobStore(Protocol):
    def temp_path(self) -> Path:
        """A fresh local path to stream an upload into before `commit`."""

    async def commit(self, temp: Path, key: str) -> None:
        """Move a finished temporary file to `key` (removing the temporary file)."""

    async def read(self, key: str) -> AsyncIterator[bytes]:
        """The stored bytes, in chunks."""

    async def exists(self, key: str) -> bool: ...


def asset_key(workspace_id: str, sha256: str) -> str:
    return f"{workspace_id}/{sha256[:2]}/{sha256}"


class LocalStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.tmp = self.root / ".tmp"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"key outside the store: {key!r}")
        return path

    def temp_path(self) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return self.tmp / f"upload-{uuid.uuid4().hex}"

    async def commit(self, temp: Path, key: str) -> None:
        final = self._path(key)

        def move() -> None:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)

        await anyio.to_thread.run_sync(move)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self._path(key), "rb") as f:
            while chunk := await f.read(CHUNK):
                yield chunk

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()


def default_root(storage_dir: str | None, data_dir: str) -> Path:
    return Path(storage_dir) if storage_dir else Path(data_dir) / "assets"
