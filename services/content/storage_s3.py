"""The S3-compatible asset store (AWS S3, MinIO, Ceph RGW, R2...), chosen when
`MEDIAOPS_S3_ENDPOINT` is set; the same four methods as `storage.LocalStore`.

- Keys are the content addresses of `storage.asset_key` (`<workspace>/<sha256[:2]>/<sha256>`),
  under an optional `MEDIAOPS_S3_PREFIX`, so the same bytes are one object per workspace.
- An upload is streamed to a local staging file first (hashed, counted and sniffed on the
  way), then sent by boto3's managed transfer (`upload_file`): one PUT below the multipart
  threshold, a multipart upload above it, which s3transfer aborts when a part fails. The
  staging file is removed whatever happens; an object appears only once it is complete.
- Reads stream `GetObject`'s body in chunks (no presigned redirect: the bytes stay behind
  the service's auth and the endpoint need not be reachable by clients).
- boto3 is synchronous: every call runs in a worker thread (`asyncio.to_thread`). Storage
  faults (endpoint down, bad credentials, missing bucket) answer 503, never a 500.

The service's own S3 settings are read here (not in `shared/config.py`):
`MEDIAOPS_S3_ACCESS_KEY_ID`, `MEDIAOPS_S3_SECRET_ACCESS_KEY` (both unset -> boto3's default
credential chain: AWS_* variables, profile, instance role), `MEDIAOPS_S3_REGION`,
`MEDIAOPS_S3_PREFIX`, `MEDIAOPS_S3_STAGING_DIR`, `MEDIAOPS_S3_MULTIPART_THRESHOLD_BYTES`,
`MEDIAOPS_S3_ADDRESSING_STYLE` (path for MinIO and most fakes, virtual for AWS).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ServiceUnavailable

CHUNK = 256 * 1024
MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Config(BaseSettings):
    """Every field reads `MEDIAOPS_S3_<FIELD>`; `from_settings` takes the endpoint and the
    bucket from the shared Settings (the lead's `s3_endpoint`/`s3_bucket`)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", env_prefix="MEDIAOPS_S3_")

    endpoint: str | None = None
    bucket: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str = "us-east-1"
    prefix: str = ""
    staging_dir: str | None = None
    # S3 parts are at least 5 MiB (but the last one)
    multipart_threshold_bytes: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024)
    addressing_style: Literal["path", "virtual", "auto"] = "path"

    @classmethod
    def from_settings(cls, settings: Any) -> S3Config:
        return cls(endpoint=settings.s3_endpoint, bucket=settings.s3_bucket)


def unavailable(exc: Exception) -> ServiceUnavailable:
    code = ""
    if isinstance(exc, S3UploadFailedError):  # upload_file wraps the ClientError
        exc = exc.__cause__ or exc.__context__ or exc  # type: ignore[assignment]
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
    reason = code or type(exc).__name__
    return ServiceUnavailable(
        f"asset storage (S3) is unavailable: {reason}", headers={"Retry-After": "5"}
    )


class S3Store:
    def __init__(self, config: S3Config, client: Any | None = None) -> None:
        if not config.bucket:
            raise ServiceUnavailable(
                "MEDIAOPS_S3_ENDPOINT is set without MEDIAOPS_S3_BUCKET: name the bucket "
                "(or unset the endpoint to use local storage)"
            )
        self.bucket = config.bucket
        self.prefix = config.prefix.strip("/")
        self.staging = Path(config.staging_dir or tempfile.gettempdir()) / "mediaops-uploads"
        self.transfer = TransferConfig(
            multipart_threshold=config.multipart_threshold_bytes,
            multipart_chunksize=config.multipart_threshold_bytes,
            max_concurrency=4,
        )
        self.client = client or boto3.client(
            "s3",
            endpoint_url=config.endpoint,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=Config(
                s3={"addressing_style": config.addressing_style},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def object_key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad asset key: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def temp_path(self) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        return self.staging / f"upload-{uuid.uuid4().hex}"

    async def commit(self, temp: Path, key: str) -> None:
        name = self.object_key(key)
        try:
            await asyncio.to_thread(
                self.client.upload_file, str(temp), self.bucket, name, Config=self.transfer
            )
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise unavailable(exc) from exc
        finally:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass

    async def read(self, key: str) -> AsyncIterator[bytes]:
        name = self.object_key(key)
        try:
            obj = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc) from exc
        body = obj["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(body.close)

    async def exists(self, key: str) -> bool:
        name = self.object_key(key)
        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in MISSING:
                return False
            raise unavailable(exc) from exc
        except BotoCoreError as exc:
            raise unavailable(exc) from exc
        return True

    async def delete(self, key: str) -> None:
        """Not part of `BlobStore` (content-addressed objects are shared by every row with
        that digest); for operations and tests."""
        name = self.object_key(key)
        try:
            await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc) from exc
