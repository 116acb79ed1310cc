"""Settings from the environment (12-factor). Fails fast on unsafe production settings."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "mediaops-development-signing-key-change-me"
DEV_CREDENTIALS_KEY = "bWVkaWFvcHMtZGV2LWNyZWRlbnRpYWxzLWtleS0wMDA="  # base64 of 32 bytes
SERVICES = ("planning", "content", "publisher", "metrics")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = Field("development", alias="MEDIAOPS_ENV")
    port: int = Field(8000, alias="MEDIAOPS_PORT")
    host: str = Field("127.0.0.1", alias="MEDIAOPS_HOST")
    data_dir: str = Field(".mediaops", alias="MEDIAOPS_DATA_DIR")
    log_level: str = Field("INFO", alias="MEDIAOPS_LOG_LEVEL")
    public_url: str | None = Field(None, alias="MEDIAOPS_PUBLIC_URL")

    # Data: one DATABASE_URL for all services, each overridable (PLANNING_DATABASE_URL ...).
    database_url: str | None = Field(None, alias="DATABASE_URL")
    planning_database_url: str | None = Field(None, alias="PLANNING_DATABASE_URL")
    content_database_url: str | None = Field(None, alias="CONTENT_DATABASE_URL")
    publisher_database_url: str | None = Field(None, alias="PUBLISHER_DATABASE_URL")
    metrics_database_url: str | None = Field(None, alias="METRICS_DATABASE_URL")
    db_pool_size: int = Field(10, alias="MEDIAOPS_DB_POOL_SIZE")
    db_connect_timeout_s: float = Field(3.0, alias="MEDIAOPS_DB_CONNECT_TIMEOUT_S")
    db_statement_timeout_ms: int = Field(15000, alias="MEDIAOPS_DB_STATEMENT_TIMEOUT_MS")

    # Broker: no AMQP_URL -> the in-process bus (embedded default).
    amqp_url: str | None = Field(None, alias="AMQP_URL")
    amqp_prefix: str = Field("", alias="MEDIAOPS_AMQP_PREFIX")
    queue_type: Literal["quorum", "classic"] = Field("quorum", alias="MEDIAOPS_QUEUE_TYPE")
    retry_delays_ms: list[int] = Field([1000, 5000, 30000], alias="MEDIAOPS_RETRY_DELAYS_MS")
    max_attempts: int = Field(5, alias="MEDIAOPS_MAX_ATTEMPTS")
    prefetch: int = Field(100, alias="MEDIAOPS_PREFETCH")
    # A publish whose confirm has not come back by then fails (the relay retries the rows):
    # a broker that blocks publishers (memory/disk alarm) or a half-dead connection must not
    # hold the relay, and its locked outbox rows, forever.
    publish_timeout_s: float = Field(30.0, gt=0, alias="MEDIAOPS_PUBLISH_TIMEOUT_S")
    relay_batch: int = Field(500, alias="MEDIAOPS_RELAY_BATCH")
    relay_poll_s: float = Field(1.0, alias="MEDIAOPS_RELAY_POLL_S")
    # Sent outbox rows are kept this long: the window for re-publishing after broker loss.
    outbox_retention_s: float = Field(86400.0, alias="MEDIAOPS_OUTBOX_RETENTION_S")
    # Inbox rows (dedupe memory) are kept this long: longer than any redelivery can take.
    inbox_retention_s: float = Field(7 * 86400.0, alias="MEDIAOPS_INBOX_RETENTION_S")

    # Auth: HS256 development key, or RS256/ES256 through a JWKS URL in production.
    jwt_secret: str = Field(DEV_JWT_SECRET, alias="MEDIAOPS_JWT_SECRET")
    jwks_url: str | None = Field(None, alias="MEDIAOPS_JWKS_URL")
    jwt_audience: str = Field("mediaops", alias="MEDIAOPS_JWT_AUDIENCE")
    jwt_issuer: str | None = Field(None, alias="MEDIAOPS_JWT_ISSUER")

    # Secrets at rest: comma-separated Fernet keys, the first encrypts, all decrypt (rotation).
    credentials_keys: str = Field(DEV_CREDENTIALS_KEY, alias="MEDIAOPS_CREDENTIALS_KEYS")
    url_allow_list: list[str] = Field([], alias="MEDIAOPS_URL_ALLOW_LIST")

    # Limits (OWASP API4).
    max_body_bytes: int = Field(2_000_000, alias="MEDIAOPS_MAX_BODY_BYTES")
    max_upload_bytes: int = Field(50_000_000, alias="MEDIAOPS_MAX_UPLOAD_BYTES")
    write_rate_per_minute: int = Field(600, alias="MEDIAOPS_WRITE_RATE_PER_MINUTE")

    # Time compression for demos and tests (1 = real time; 3600 = an hour per second).
    time_scale: float = Field(1.0, alias="MEDIAOPS_TIME_SCALE")
    sandbox_url: str | None = Field(None, alias="MEDIAOPS_SANDBOX_URL")
    storage_dir: str | None = Field(None, alias="MEDIAOPS_STORAGE_DIR")
    s3_endpoint: str | None = Field(None, alias="MEDIAOPS_S3_ENDPOINT")
    s3_bucket: str | None = Field(None, alias="MEDIAOPS_S3_BUCKET")

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env == "production":
            if self.jwt_secret == DEV_JWT_SECRET and not self.jwks_url:
                raise ValueError(
                    "MEDIAOPS_JWT_SECRET is the development default: set a secret or "
                    "MEDIAOPS_JWKS_URL in production"
                )
            if self.credentials_keys == DEV_CREDENTIALS_KEY:
                raise ValueError(
                    "MEDIAOPS_CREDENTIALS_KEYS is the development default: set real keys"
                )
            if not self.database_url and not all(self.service_database_url(s) for s in SERVICES):
                raise ValueError("DATABASE_URL is required in production")
            if not self.amqp_url:
                raise ValueError("AMQP_URL is required in production")
        if len(self.jwt_secret) < 32 and not self.jwks_url:
            raise ValueError("MEDIAOPS_JWT_SECRET must be at least 32 characters")
        return self

    def service_database_url(self, service: str) -> str | None:
        own: str | None = getattr(self, f"{service}_database_url", None)
        return own or self.database_url

    @property
    def exchange_events(self) -> str:
        return f"{self.amqp_prefix}mediaops.events"

    @property
    def exchange_commands(self) -> str:
        return f"{self.amqp_prefix}mediaops.commands"

    def queue(self, name: str) -> str:
        return f"{self.amqp_prefix}{name}"


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]
