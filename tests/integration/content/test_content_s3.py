"""Assets on S3-compatible storage (`MEDIAOPS_S3_ENDPOINT` set), through the HTTP API, against
moto's S3 server on a free port (real HTTP and the real S3 protocol, nothing of boto3 mocked):
upload, de-duplication to one object, the same bytes back, 413/415 leaving no object, no
staging file left behind, 503 problem+json when the storage is down or the bucket missing,
and multipart transfer for large files."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import text

from services.content.app import create_app
from services.content.storage_s3 import S3Config, S3Store
from tests.conftest import settings_for_tests

from .support import Clock, Content, assert_problem, png_bytes

KEY_ID, SECRET = "mediaops-test", "mediaops-test-secret"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"assets-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    staging = tmp_path / "staging"
    monkeypatch.setenv("MEDIAOPS_S3_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("MEDIAOPS_S3_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("MEDIAOPS_S3_REGION", "us-east-1")
    monkeypatch.setenv("MEDIAOPS_S3_PREFIX", "mediaops/assets")
    monkeypatch.setenv("MEDIAOPS_S3_STAGING_DIR", str(staging))
    return staging


async def content_on(  # type: ignore[no-untyped-def]
    pg_url: str, make_runtime, tmp_path: Path, endpoint: str, bucket: str
) -> Content:
    settings = settings_for_tests(
        pg_url,
        MEDIAOPS_S3_ENDPOINT=endpoint,
        MEDIAOPS_S3_BUCKET=bucket,
        MEDIAOPS_STORAGE_DIR=str(tmp_path / "local-unused"),
        MEDIAOPS_MAX_UPLOAD_BYTES=200_000,
    )
    runtime = await make_runtime(settings, ["content"], roles=["api"], clock=Clock())
    ctx = runtime.contexts["content"]
    return Content(settings, create_app(ctx), runtime, Clock(), tmp_path / "local-unused")


def objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    client = s3_client(endpoint)
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def staged(staging: Path) -> list[Path]:
    return [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []


async def asset_rows(content: Content, workspace: str) -> int:
    async with content.ctx.db.engine.connect() as conn:
        sql = "SELECT count(*) FROM content.assets WHERE workspace_id = :w"
        return int((await conn.execute(text(sql), {"w": workspace})).scalar_one())


async def test_s3_upload_dedupes_to_one_object_and_streams_the_same_bytes(  # type: ignore[no-untyped-def]
    pg_url, make_runtime, tmp_path, s3_endpoint, bucket, s3_env
):
    content = await content_on(pg_url, make_runtime, tmp_path, s3_endpoint, bucket)
    png = png_bytes(64, 48, b"s3")
    digest = hashlib.sha256(png).hexdigest()
    async with content.client() as c:
        r = await c.post("/v1/assets", files={"file": ("cover.bin", png, "application/x-foo")})
        assert r.status_code == 201, r.text
        a = r.json()
        assert (a["sha256"], a["mime"], a["kind"]) == (digest, "image/png", "image")
        assert (a["width"], a["height"], a["size_bytes"]) == (64, 48, len(png))
        assert a["deduplicated"] is False
        key = f"mediaops/assets/{content.workspace}/{digest[:2]}/{digest}"
        assert objects(s3_endpoint, bucket) == {key: png}
        # nothing is written to local disk in S3 mode, and the staging file is gone
        assert not content.storage.exists()
        assert staged(s3_env) == []

        # the same bytes again: the existing asset (200), still one object
        r2 = await c.post("/v1/assets", files={"file": ("again.png", png, "image/png")})
        assert r2.status_code == 200, r2.text
        assert r2.json()["id"] == a["id"] and r2.json()["deduplicated"] is True
        assert list(objects(s3_endpoint, bucket)) == [key]
        assert staged(s3_env) == []

        got = await c.get(f"/v1/assets/{a['id']}/content")
        assert got.status_code == 200 and got.content == png
        assert got.headers["content-type"] == "image/png"
        assert got.headers["etag"] == f'"{digest}"'
        assert got.headers["content-length"] == str(len(png))

    # another workspace: the same bytes are its own asset and its own object
    async with content.client(workspace="ws-s3-other") as other:
        assert_problem(await other.get(f"/v1/assets/{a['id']}/content"), 404)
        r3 = await other.post("/v1/assets", files={"file": ("c.png", png, "image/png")})
        assert r3.status_code == 201 and r3.json()["id"] != a["id"]
        assert set(objects(s3_endpoint, bucket)) == {
            key,
            f"mediaops/assets/ws-s3-other/{digest[:2]}/{digest}",
        }

    # an object lost from the bucket is a 404 naming the asset, not a 500
    s3_client(s3_endpoint).delete_object(Bucket=bucket, Key=key)
    async with content.client() as c:
        assert_problem(await c.get(f"/v1/assets/{a['id']}/content"), 404, "asset_id")


async def test_s3_refused_uploads_leave_no_object_and_no_staging_file(  # type: ignore[no-untyped-def]
    pg_url, make_runtime, tmp_path, s3_endpoint, bucket, s3_env
):
    content = await content_on(pg_url, make_runtime, tmp_path, s3_endpoint, bucket)
    async with content.client() as c:
        # 415: the type comes from the magic bytes, not the name or the declared type
        r = await c.post(
            "/v1/assets", files={"file": ("evil.png", b"hello, not a png at all", "image/png")}
        )
        assert_problem(r, 415, "file")
        # 413 with a Content-Length over the limit (refused before reading)
        big = b"\x89PNG\r\n\x1a\n" + b"\0" * 250_000
        r = await c.post("/v1/assets", files={"file": ("big.png", big, "image/png")})
        assert_problem(r, 413, "file")

        # 413 while streaming, without Content-Length (the partial staging file is removed)
        async def chunks():  # type: ignore[no-untyped-def]
            yield b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            yield b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
            for _ in range(30):
                yield b"\0" * 10_000
            yield b"\r\n--XyZ--\r\n"

        r = await c.post(
            "/v1/assets",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
        )
        assert_problem(r, 413, "file")
    assert objects(s3_endpoint, bucket) == {}
    assert staged(s3_env) == []
    assert await asset_rows(content, content.workspace) == 0


async def test_s3_down_or_bucket_missing_is_503_and_writes_nothing(  # type: ignore[no-untyped-def]
    pg_url, make_runtime, tmp_path, s3_endpoint, s3_env
):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    png = png_bytes(8, 8, b"down")
    for endpoint, bucket in ((dead, "assets"), (s3_endpoint, f"missing-{uuid.uuid4().hex[:8]}")):
        content = await content_on(pg_url, make_runtime, tmp_path, endpoint, bucket)
        async with content.client() as c:
            r = await c.post("/v1/assets", files={"file": ("a.png", png, "image/png")})
            body = assert_problem(r, 503)
            assert "asset storage (S3) is unavailable" in body["detail"]
            assert r.headers["retry-after"]
        assert await asset_rows(content, content.workspace) == 0
        assert staged(s3_env) == []


async def test_s3_store_sends_large_files_as_multipart_and_reads_them_back(  # type: ignore[no-untyped-def]
    s3_endpoint, bucket, s3_env
):
    store = S3Store(
        S3Config(
            endpoint=s3_endpoint,
            bucket=bucket,
            multipart_threshold_bytes=5 * 1024 * 1024,
        )
    )
    data = hashlib.sha256(b"seed").digest() * (6 * 1024 * 1024 // 32 + 7)  # ~6 MiB
    temp = store.temp_path()
    temp.write_bytes(data)
    key = f"ws-big/{hashlib.sha256(data).hexdigest()[:2]}/{hashlib.sha256(data).hexdigest()}"
    await store.commit(temp, key)
    assert not temp.exists()
    client = s3_client(s3_endpoint)
    head = client.head_object(Bucket=bucket, Key=f"mediaops/assets/{key}")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-2")  # two parts: a multipart upload
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert await store.exists(key) and not await store.exists("ws-big/00/nothing")
    assert b"".join([chunk async for chunk in store.read(key)]) == data
