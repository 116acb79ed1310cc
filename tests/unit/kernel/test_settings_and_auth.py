from __future__ import annotations

import gc
import time
from types import SimpleNamespace

import jwt
import pytest
from starlette.requests import Request

from shared.auth import TokenVerifier, mint_token
from shared.config import DEV_JWT_SECRET, Settings
from shared.errors import Forbidden, Unauthorized
from shared.http.app import SERVING_GC_GEN0, tune_gc_for_serving
from shared.http.deps import authenticate


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


def test_verified_tokens_are_cached_until_their_exp_and_failures_never():
    settings = Settings()
    verifier = TokenVerifier(settings)
    exp = int(time.time()) + 2
    claims = {"sub": "x", "workspace": "acme", "roles": ["manager"], "aud": "mediaops"}
    token = jwt.encode({**claims, "exp": exp}, settings.jwt_secret, algorithm="HS256")
    assert verifier.verify(token).workspace_id == "acme"
    assert verifier.verify(token) is verifier._cache[token]  # the second use is the cache's
    forged = jwt.encode({**claims, "exp": exp}, "another-key-that-is-long-enough-000")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            verifier.verify(forged)
    assert forged not in verifier._cache
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)  # cached, but past its exp


def _request(headers: dict[str, str], verifier: TokenVerifier) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(verifier=verifier))
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "app": app})


async def test_bearer_dependency_reads_the_authorization_header():
    settings = Settings()
    verifier = TokenVerifier(settings)
    token = mint_token(settings, workspace="acme", roles=["editor"], sub="li")
    for header in (f"Bearer {token}", f"bearer {token}", f"BEARER  {token} "):
        principal = await authenticate(_request({"Authorization": header}, verifier))
        assert (principal.sub, principal.workspace_id) == ("li", "acme")
    for headers in ({}, {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer "}):
        with pytest.raises(Unauthorized) as caught:
            await authenticate(_request(headers, verifier))
        assert "Bearer" in caught.value.headers["WWW-Authenticate"]


def test_serving_gc_freezes_start_up_objects_and_collects_young_ones_less_often():
    before = gc.get_threshold()
    try:
        tune_gc_for_serving()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (SERVING_GC_GEN0, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
