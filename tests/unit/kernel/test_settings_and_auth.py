from __future__ import annotations

import time

import jwt
import pytest

from shared.auth import TokenVerifier, mint_token
from shared.config import DEV_JWT_SECRET, Settings
from shared.errors import Forbidden, Unauthorized


def test_production_refuses_default_secrets():
    with pytest.raises(ValueError, match="MEDIAOPS_JWT_SECRET"):
        Settings(MEDIAOPS_ENV="production", DATABASE_URL="postgresql://x/y", AMQP_URL="amqp://x")
    with pytest.raises(ValueError, match="MEDIAOPS_CREDENTIALS_KEYS"):
        Settings(
            MEDIAOPS_ENV="production",
            DATABASE_URL="postgresql://x/y",
            AMQP_URL="amqp://x",
            MEDIAOPS_JWT_SECRET="s" * 40,
        )
    ok = Settings(
        MEDIAOPS_ENV="production",
        DATABASE_URL="postgresql://x/y",
        AMQP_URL="amqp://x",
        MEDIAOPS_JWT_SECRET="s" * 40,
        MEDIAOPS_CREDENTIALS_KEYS="k" * 44,
    )
    assert ok.env == "production"
    assert Settings().jwt_secret == DEV_JWT_SECRET  # development keeps working out of the box


def test_short_secret_refused_and_service_url_override():
    with pytest.raises(ValueError, match="at least 32"):
        Settings(MEDIAOPS_JWT_SECRET="short")
    s = Settings(DATABASE_URL="postgresql://a/main", METRICS_DATABASE_URL="postgresql://a/metrics")
    assert s.service_database_url("metrics") == "postgresql://a/metrics"
    assert s.service_database_url("planning") == "postgresql://a/main"
    assert Settings(MEDIAOPS_AMQP_PREFIX="t1.").exchange_events == "t1.mediaops.events"


def test_token_round_trip_and_roles():
    settings = Settings()
    token = mint_token(settings, workspace="acme", roles=["manager", "reviewer"], sub="li")
    p = TokenVerifier(settings).verify(token)
    assert (p.sub, p.workspace_id, p.roles) == ("li", "acme", frozenset({"manager", "reviewer"}))
    p.require("reviewer")
    with pytest.raises(Forbidden):
        p.require("analyst")
    with pytest.raises(ValueError):
        mint_token(settings, workspace="Bad Space", roles=["manager"], sub="x")
    with pytest.raises(ValueError):
        mint_token(settings, workspace="acme", roles=["emperor"], sub="x")


def test_rejected_tokens():
    settings = Settings()
    verifier = TokenVerifier(settings)
    base = {
        "sub": "x",
        "workspace": "acme",
        "roles": ["manager"],
        "aud": "mediaops",
        "exp": int(time.time()) + 60,
    }
    cases = [
        jwt.encode({**base, "exp": int(time.time()) - 1}, settings.jwt_secret, algorithm="HS256"),
        jwt.encode(base, "another-key-that-is-long-enough-000", algorithm="HS256"),
        jwt.encode(base, None, algorithm="none"),
        jwt.encode({**base, "aud": "someone-else"}, settings.jwt_secret, algorithm="HS256"),
        jwt.encode({**base, "workspace": "../etc"}, settings.jwt_secret, algorithm="HS256"),
        "not-a-jwt",
    ]
    for token in cases:
        with pytest.raises(Unauthorized):
            verifier.verify(token)
