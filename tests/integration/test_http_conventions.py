"""HTTP conventions every service shares: problem+json, auth, ETag, Idempotency-Key."""

from __future__ import annotations

import time

import jwt
import pytest

from shared.http.app import create_service_app
from tests.conftest import client_for, make_token, settings_for_tests
from tests.support.probe import PROBE

pytestmark = pytest.mark.infra


@pytest.fixture
async def probe(pg_url, make_runtime):  # type: ignore[no-untyped-def]
    settings = settings_for_tests(pg_url)
    runtime = await make_runtime(settings, [PROBE], roles=["api"])
    return settings, create_service_app(runtime.contexts["probe"])


def assert_problem(r, status: int, field: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    if field is not None:
        assert body["field"] == field, body
    return body


async def test_bad_input_is_422_naming_the_field(probe):
    settings, app = probe
    async with client_for(app, make_token(settings)) as c:
        r = await c.post(
            "/v1/notes", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(r, 422)
        r = await c.post("/v1/notes", json={"title": "x", "target": "many"})
        body = assert_problem(r, 422, "target")
        assert body["errors"][0]["field"] == "target"
        r = await c.post("/v1/notes", json={"title": "x", "target": 1, "workspace_id": "ws-b"})
        assert_problem(r, 422, "workspace_id")
        r = await c.post("/v1/notes", json={"title": "x", "target": -1})
        assert_problem(r, 422, "target")
        r = await c.get("/v1/notes/not-a-uuid")
        assert_problem(r, 422, "path.note_id")


async def test_tokens_missing_expired_forged_none_or_wrong_audience_are_401(probe):
    settings, app = probe
    now = int(time.time())
    claims = {
        "sub": "mallory",
        "workspace": "ws-a",
        "roles": ["manager"],
        "aud": "mediaops",
        "exp": now + 60,
    }
    bad = {
        "missing": None,
        "expired": make_token(settings, ttl=-10),
        "wrong key": jwt.encode(claims, "x" * 40, algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "wrong audience": jwt.encode(
            {**claims, "aud": "other"}, settings.jwt_secret, algorithm="HS256"
        ),
        "no workspace": jwt.encode(
            {k: v for k, v in claims.items() if k != "workspace"},
            settings.jwt_secret,
            algorithm="HS256",
        ),
    }
    for name, token in bad.items():
        async with client_for(app, token) as c:
            r = await c.get("/v1/notes")
            assert_problem(r, 401), name
            assert "Bearer" in r.headers.get("www-authenticate", ""), name


async def test_role_that_may_not_is_403(probe):
    settings, app = probe
    async with client_for(app, make_token(settings, roles="analyst")) as c:
        r = await c.post("/v1/notes", json={"title": "x", "target": 1})
        body = assert_problem(r, 403)
        assert "manager" in body["detail"]


async def test_if_match_and_etag(probe):
    settings, app = probe
    async with client_for(app, make_token(settings)) as c:
        r = await c.post("/v1/notes", json={"title": "v1", "target": 1})
        assert r.headers["etag"] == '"1"'
        nid = r.json()["id"]
        assert_problem(await c.patch(f"/v1/notes/{nid}", json={"title": "v2"}), 428, "If-Match")
        r = await c.patch(f"/v1/notes/{nid}", json={"title": "v2"}, headers={"If-Match": '"1"'})
        assert r.status_code == 200 and r.json()["version"] == 2
        stale = await c.patch(f"/v1/notes/{nid}", json={"title": "v3"}, headers={"If-Match": '"1"'})
        assert_problem(stale, 412, "If-Match")
        assert (await c.get(f"/v1/notes/{nid}")).json()["title"] == "v2"


async def test_idempotency_key_replays_the_first_response(probe):
    settings, app = probe
    async with client_for(app, make_token(settings)) as c:
        before = (await c.get("/v1/notes")).json()["count"]
        h = {"Idempotency-Key": "create-once-1"}
        first = await c.post("/v1/notes", json={"title": "once", "target": 1}, headers=h)
        again = await c.post("/v1/notes", json={"title": "once", "target": 1}, headers=h)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        assert again.headers.get("idempotent-replayed") == "true"
        assert (await c.get("/v1/notes")).json()["count"] == before + 1
        other = await c.post("/v1/notes", json={"title": "different", "target": 1}, headers=h)
        assert_problem(other, 422, "Idempotency-Key")


async def test_body_limit_and_unknown_route(probe, pg_url, make_runtime):
    settings = settings_for_tests(pg_url, MEDIAOPS_MAX_BODY_BYTES=100)
    runtime = await make_runtime(settings, [PROBE], roles=["api"])
    app = create_service_app(runtime.contexts["probe"])
    async with client_for(app, make_token(settings)) as c:
        r = await c.post("/v1/notes", json={"title": "x" * 200, "target": 1})
        assert_problem(r, 413)
        assert_problem(await c.get("/v1/nothing-here"), 404)


async def test_write_rate_limit_is_429_with_retry_after(pg_url, make_runtime):
    settings = settings_for_tests(pg_url, MEDIAOPS_WRITE_RATE_PER_MINUTE=60)
    runtime = await make_runtime(settings, [PROBE], roles=["api"])
    app = create_service_app(runtime.contexts["probe"])
    async with client_for(app, make_token(settings)) as c:
        codes = [
            (await c.post("/v1/notes", json={"title": "x", "target": 1})).status_code
            for _ in range(12)
        ]
        assert codes[:10] == [201] * 10
        r = await c.post("/v1/notes", json={"title": "x", "target": 1})
        assert_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1


async def test_health_ready_metrics(probe):
    _settings, app = probe
    async with client_for(app) as c:
        assert (await c.get("/healthz")).json()["status"] == "ok"
        r = await c.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "broker": "ok"}
        m = await c.get("/metrics")
        assert "mediaops_http_requests_total" in m.text


async def test_text_postgres_cannot_store_is_422_not_500(probe):
    settings, app = probe
    async with client_for(app, make_token(settings)) as c:
        for bad in ('{"title": "a\\u0000b", "target": 1}', '{"title": "\\udbb9x", "target": 1}'):
            r = await c.post("/v1/notes", content=bad, headers={"content-type": "application/json"})
            body = assert_problem(r, 422)
            assert "title" in body["detail"]


async def test_number_out_of_database_range_is_422_not_500(probe):
    settings, app = probe
    async with client_for(app, make_token(settings)) as c:
        r = await c.post("/v1/notes", json={"title": "huge", "target": 4169711401})
        assert_problem(r, 422)
