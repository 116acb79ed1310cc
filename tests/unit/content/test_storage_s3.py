"""The S3 store's configuration and key rules (no I/O: building a boto3 client sends nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from services.content.storage import asset_key
from services.content.storage_s3 import S3Config, S3Store, unavailable
from shared.config import Settings
from shared.errors import ServiceUnavailable


def test_config_reads_the_services_own_s3_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAOPS_S3_ACCESS_KEY_ID", "AKIA-test")
    monkeypatch.setenv("MEDIAOPS_S3_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("MEDIAOPS_S3_REGION", "cn-north-1")
    monkeypatch.setenv("MEDIAOPS_S3_PREFIX", "/prod/assets/")
    monkeypatch.setenv("MEDIAOPS_S3_BUCKET", "from-env-ignored")
    settings = Settings(MEDIAOPS_S3_ENDPOINT="http://minio:9000", MEDIAOPS_S3_BUCKET="media")
    config = S3Config.from_settings(settings)
    assert (config.endpoint, config.bucket) == ("http://minio:9000", "media")
    assert (config.access_key_id, config.secret_access_key) == ("AKIA-test", "s3cr3t")
    assert config.region == "cn-north-1"
    store = S3Store(config)
    assert store.bucket == "media"
    assert store.client.meta.region_name == "cn-north-1"
    assert store.client.meta.endpoint_url == "http://minio:9000"
    key = asset_key("ws-1", "ab" + "0" * 62)
    assert store.object_key(key) == f"prod/assets/ws-1/ab/ab{'0' * 62}"


def test_defaults_and_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REGION", "PREFIX", "STAGING_DIR", "MULTIPART_THRESHOLD_BYTES"):
        monkeypatch.delenv(f"MEDIAOPS_S3_{name}", raising=False)
    config = S3Config(endpoint="http://s3", bucket="b", staging_dir=str(tmp_path))
    assert config.region == "us-east-1" and config.multipart_threshold_bytes == 8 * 1024 * 1024
    store = S3Store(config)
    assert store.object_key("ws/ab/abc") == "ws/ab/abc"
    temp = store.temp_path()
    assert temp.parent == tmp_path / "mediaops-uploads" and not temp.exists()
    with pytest.raises(ValueError):
        S3Config(endpoint="http://s3", bucket="b", multipart_threshold_bytes=1024)


def test_an_endpoint_without_a_bucket_is_a_503_naming_the_variable() -> None:
    with pytest.raises(ServiceUnavailable, match="MEDIAOPS_S3_BUCKET"):
        S3Store(S3Config(endpoint="http://s3", bucket=None))


@pytest.mark.parametrize("key", ["", "/abs", "ws/../other/ab/x", ".."])
def test_keys_cannot_escape_the_prefix(key: str) -> None:
    store = S3Store(S3Config(endpoint="http://s3", bucket="b", prefix="p"))
    with pytest.raises(ValueError):
        store.object_key(key)


def test_storage_faults_become_503_with_retry_after() -> None:
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
    err = unavailable(denied)
    assert err.status == 503 and "AccessDenied" in err.detail
    assert err.headers["Retry-After"]
    down = unavailable(EndpointConnectionError(endpoint_url="http://s3"))
    assert "EndpointConnectionError" in down.detail
