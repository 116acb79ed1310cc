"""Tokens, channel credentials, write rate limits and size limits, across the four services.

- A forged, unsigned, expired, foreign-audience or workspace-less token is a 401 problem+json
  on a protected read of every service.
- A channel account's access token, refresh token and secret are never stored as plain text:
  after creating the account, rotating its credentials and publishing with them (the sandbox
  platform demands the bearer token), every text/json/bytea column of every table of schema
  `publisher` is dumped and searched.
- Writes are rate limited per token (429 + Retry-After); other tokens and reads are not.
- Request bodies over MEDIAOPS_MAX_BODY_BYTES are 413 (declared or streamed) and write
  nothing; uploads over MEDIAOPS_MAX_UPLOAD_BYTES are 413 and leave no file behind.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from services.content.app import create_app as content_app
from services.metrics.app import create_app as metrics_app
from services.planning.app import create_app as planning_app
from services.publisher.app import create_app as publisher_app
from services.publisher.config import PublisherConfig
from shared.config import SERVICES
from tests.conftest import client_for, make_token, settings_for_tests
from tests.integration.content.support import png_bytes
from tests.integration.publisher.support import (
    APPROVED,
    SandboxServer,
    approved_data,
    utcnow,
    wait_for,
)
from tests.integration.publisher.support import deliver as publisher_deliver

pytestmark = pytest.mark.infra

ALL_ROLES = "manager,planner,editor,reviewer,analyst,designer,video,community"
FACTORIES = {
    "planning": planning_app,
    "content": content_app,
    "publisher": publisher_app,
    "metrics": metrics_app,
}
PROTECTED_GET = {
    "planning": "/v1/goals",
    "content": "/v1/items",
    "publisher": "/v1/accounts",
    "metrics": "/v1/goals",
}
# One create per service (a valid body) and the list that would show it.
WRITES = {
    "planning": ("/v1/pillars", lambda i: {"name": f"p{i}", "target_share": 0.01}, "/v1/pillars"),
    "content": ("/v1/items", lambda i: {"title": f"t{i}", "format": "article"}, "/v1/items"),
    "publisher": (
        "/v1/accounts",
        lambda i: {"channel": "sandbox", "name": f"a{i}", "settings": {}},
        "/v1/accounts",
    ),
    "metrics": (
        "/v1/competitors",
        lambda i: {"name": f"c{i}", "channel": "weibo"},
        "/v1/competitors",
    ),
}


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    assert r.headers["content-type"] == "application/problem+json", r.headers
    body = r.json()
    assert body["status"] == status and body["title"]
    return body  # type: ignore[no-any-return]


@pytest.fixture
async def apps(pg_url, make_runtime, tmp_path):  # type: ignore[no-untyped-def]
    settings = settings_for_tests(
        pg_url,
        MEDIAOPS_WRITE_RATE_PER_MINUTE=60,  # a burst of 10, then one a second
        MEDIAOPS_MAX_BODY_BYTES=4000,
        MEDIAOPS_MAX_UPLOAD_BYTES=20_000,
        MEDIAOPS_STORAGE_DIR=str(tmp_path / "assets"),
    )
    runtime = await make_runtime(
        settings, SERVICES, roles=["api"], extras={"publisher_config": PublisherConfig()}
    )
    return settings, {name: FACTORIES[name](runtime.contexts[name]) for name in SERVICES}


def token(settings: Any, workspace: str | None = None) -> str:
    ws = workspace or f"ws-{uuid.uuid4().hex[:8]}"
    return make_token(settings, ws, ALL_ROLES, f"u-{uuid.uuid4().hex[:6]}")


# --- tokens -----------------------------------------------------------------------------


def unsigned(claims: dict[str, Any], alg: str) -> str:
    """A JWT whose header says `alg` (any spelling of none) and that carries no signature."""
    import base64
    import json

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."


async def test_bad_tokens_are_401_on_every_service(apps) -> None:  # type: ignore[no-untyped-def]
    settings, by_service = apps
    now = int(time.time())
    claims = {
        "sub": "mallory",
        "workspace": "ws-a",
        "roles": ["manager"],
        "aud": settings.jwt_audience,
        "exp": now + 600,
        "iat": now,
    }
    secret = settings.jwt_secret
    bad = {
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "alg None": unsigned(claims, "None"),
        "alg NONE, signature kept": unsigned(claims, "NONE")
        + jwt.encode(claims, secret, algorithm="HS256").rsplit(".", 1)[1],
        "wrong key": jwt.encode(claims, "x" * 48, algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": now - 120}, secret, algorithm="HS256"),
        "wrong audience": jwt.encode({**claims, "aud": "other-app"}, secret, algorithm="HS256"),
        "no audience": jwt.encode(
            {k: v for k, v in claims.items() if k != "aud"}, secret, algorithm="HS256"
        ),
        "no workspace": jwt.encode(
            {k: v for k, v in claims.items() if k != "workspace"}, secret, algorithm="HS256"
        ),
        "garbage": "not.a.jwt",
    }
    good = jwt.encode(claims, secret, algorithm="HS256")
    for service, app in by_service.items():
        path = PROTECTED_GET[service]
        async with client_for(app, good) as c:
            assert (await c.get(path)).status_code == 200, f"{service}: the valid token fails"
        async with client_for(app) as c:
            r = await c.get(path)
            assert_problem(r, 401)
        for name, tok in bad.items():
            async with client_for(app, tok) as c:
                r = await c.get(path)
                assert_problem(r, 401), f"{service} {name}"
                assert "Bearer" in r.headers.get("www-authenticate", ""), (service, name)
        # a token signed with HS256 but whose header says none, and one with a tampered payload
        header, _payload, sig = good.split(".")
        tampered = jwt.encode({**claims, "workspace": "ws-b"}, secret, algorithm="HS256")
        forged = ".".join([header, tampered.split(".")[1], sig])
        async with client_for(app, forged) as c:
            assert_problem(await c.get(path), 401)
        async with client_for(app) as c:
            r = await c.get(path, headers={"Authorization": f"Basic {good}"})
            assert_problem(r, 401)


# --- credentials ------------------------------------------------------------------------


async def dump_schema(pg_url: str, schema: str) -> list[tuple[str, str, bytes]]:
    """(table, column, value as bytes) of every text-like, json or bytea column of a schema."""
    conn = await asyncpg.connect(pg_url)
    try:
        cols = await conn.fetch(
            """SELECT c.table_name, c.column_name, c.data_type, c.udt_name
               FROM information_schema.columns c
               JOIN information_schema.tables t
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name
               WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'""",
            schema,
        )
        out: list[tuple[str, str, bytes]] = []
        for col in cols:
            kind = col["udt_name"]
            if kind == "bytea":
                expr = f'"{col["column_name"]}"'
            elif kind in ("text", "varchar", "bpchar", "json", "jsonb", "_text", "_varchar"):
                expr = f'"{col["column_name"]}"::text'
            else:
                continue
            rows = await conn.fetch(
                f'SELECT {expr} AS v FROM "{schema}"."{col["table_name"]}" WHERE {expr} IS NOT NULL'
            )
            for row in rows:
                v = row["v"]
                out.append(
                    (
                        col["table_name"],
                        col["column_name"],
                        v if isinstance(v, bytes) else v.encode(),
                    )
                )
        return out
    finally:
        await conn.close()


async def test_channel_credentials_are_never_stored_as_plain_text(pg_url, amqp_url, make_runtime):  # type: ignore[no-untyped-def]
    from tests.integration.publisher.test_flow import fast_config

    tag = uuid.uuid4().hex
    first = {
        "access_token": f"AT1-{tag}",
        "refresh_token": f"RT1-{tag}",
        "secret": f"SEC1-{tag}",
    }
    second = {"access_token": f"AT2-{tag}", "secret": f"SEC2-{tag}"}
    async with SandboxServer(auth_token=second["access_token"]) as sandbox:
        settings = settings_for_tests(
            pg_url, amqp_url, MEDIAOPS_SANDBOX_URL=sandbox.url, MEDIAOPS_RELAY_POLL_S=0.05
        )
        runtime = await make_runtime(
            settings,
            ["publisher"],
            roles=["api", "consumers", "relay", "publisher.scheduler", "publisher.worker"],
            extras={"publisher_config": fast_config()},
        )
        ctx = runtime.contexts["publisher"]
        ws = f"ws-{tag[:8]}"
        async with client_for(publisher_app(ctx), make_token(settings, ws, ALL_ROLES)) as c:
            r = await c.post(
                "/v1/accounts",
                json={
                    "channel": "sandbox",
                    "name": "Brand",
                    "credentials": first,
                    "settings": {"handle": f"h-{tag[:8]}"},
                },
            )
            assert r.status_code == 201, r.text
            acc = r.json()
            assert sorted(acc["credentials_set"]) == sorted(first)
            r = await c.patch(
                f"/v1/accounts/{acc['id']}",
                json={"credentials": second},
                headers={"If-Match": r.headers["etag"]},
            )
            assert r.status_code == 200, r.text
            for value in (*first.values(), *second.values()):
                assert value not in r.text and value not in (await c.get("/v1/accounts")).text
            # publish with them: the sandbox refuses a post without the current access token
            data = approved_data(
                planned_for=utcnow() + timedelta(seconds=0.2), account_ids=[acc["id"]]
            )
            await publisher_deliver(ctx, APPROVED, data, workspace=ws)

            async def done() -> Any:
                items = (
                    await c.get("/v1/publications", params={"item_id": data["item_id"]})
                ).json()["items"]
                return items if items and items[0]["status"] == "published" else None

            await wait_for(done, 15, "the post is published with the stored credentials")
            attempts = (await c.get(f"/v1/publications/{(await done())[0]['id']}/attempts")).text
            assert second["access_token"] not in attempts

    secrets = [*first.values(), *second.values()]
    values = await dump_schema(pg_url, "publisher")
    assert any(t == "accounts" for t, _c, _v in values), "the dump found no account rows"
    leaks = [
        (table, column, secret)
        for table, column, v in values
        for secret in secrets
        if secret.encode() in v or secret.split("-", 1)[1].encode() in v
    ]
    assert not leaks, f"credentials readable as plain text in {leaks}"


# --- rate limits -------------------------------------------------------------------------


async def test_writes_are_rate_limited_per_token(apps) -> None:  # type: ignore[no-untyped-def]
    settings, by_service = apps
    for service, app in by_service.items():
        path, body, list_path = WRITES[service]
        ws = f"ws-{uuid.uuid4().hex[:8]}"
        greedy, other = token(settings, ws), token(settings, ws)
        async with client_for(app, greedy) as c, client_for(app, other) as o:
            codes = []
            for i in range(40):
                r = await c.post(path, json=body(i))
                codes.append(r.status_code)
                if r.status_code == 429:
                    break
            assert 429 in codes, f"{service}: no 429 in {codes}"
            assert all(code in (200, 201) for code in codes[:-1]), codes
            assert len(codes) - 1 >= 10, f"{service}: the burst is {len(codes) - 1}"
            assert_problem(r, 429)
            assert int(r.headers["retry-after"]) >= 1
            created = len(codes) - 1
            # the limited token can still read; another token can still write
            listed = (await c.get(list_path, params={"limit": 200})).json()["items"]
            assert len(listed) == created, f"{service}: the 429 wrote something"
            assert (await o.post(path, json=body(999))).status_code in (200, 201)


# --- size limits -------------------------------------------------------------------------


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    """A request body without Content-Length (chunked transfer)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_request_bodies_over_the_limit_are_413_and_write_nothing(apps) -> None:  # type: ignore[no-untyped-def]
    settings, by_service = apps
    for service, app in by_service.items():
        path, body, list_path = WRITES[service]
        big = body(0)
        big["name" if "name" in big else "title"] = "x" * 5000
        async with client_for(app, token(settings)) as c:
            assert_problem(await c.post(path, json=big), 413)

            # the same body streamed, without Content-Length: the limit holds while reading
            r = await c.post(
                path,
                content=chunks(json.dumps(big).encode(), 1000),
                headers={"content-type": "application/json"},
            )
            assert (await c.get(list_path)).json()["items"] == [], service
            assert_problem(r, 413)


async def test_uploads_over_the_limit_are_413_and_leave_no_file(apps, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, by_service = apps
    app = by_service["content"]
    storage = Path(settings.storage_dir)

    def files() -> list[Path]:
        return sorted(p for p in storage.rglob("*") if p.is_file()) if storage.exists() else []

    async with client_for(app, token(settings)) as c:
        small = await c.post(
            "/v1/assets", files={"file": ("ok.png", png_bytes(8, 8, b"ok"), "image/png")}
        )
        assert small.status_code == 201, small.text
        before = files()
        assert len(before) == 1
        big = png_bytes(8, 8, os.urandom(40_000))  # a valid PNG of ~40 kB > 20 kB
        assert len(big) > 20_000
        body = assert_problem(
            await c.post("/v1/assets", files={"file": ("big.png", big, "image/png")}), 413
        )
        assert body.get("field") == "file"
        # streamed, no Content-Length: the limit holds while reading
        boundary = "b0undary"
        payload = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            f"Content-Type: image/png\r\n\r\n".encode()
            + big
            + f"\r\n--{boundary}--\r\n".encode()
        )

        r = await c.post(
            "/v1/assets",
            content=chunks(payload, 4096),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert_problem(r, 413)
        assert files() == before, "a refused upload left a file behind"
