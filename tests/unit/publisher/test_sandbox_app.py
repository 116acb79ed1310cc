import asyncio

import httpx
import pytest

from deploy.sandbox.app import create_sandbox_app


class FakeClock:
    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def app(clock):
    return create_sandbox_app(clock=clock)


@pytest.fixture
async def client(app):
    async with client_for(app) as c:
        yield c


def post_body(account="brand", text="Hello world", **extra):
    return {"account": account, "title": "T", "text": text, "hashtags": ["a"], **extra}


async def test_same_key_returns_the_first_post_with_200(client):
    first = await client.post("/v1/posts", json=post_body(), headers={"Idempotency-Key": "k1"})
    again = await client.post("/v1/posts", json=post_body(), headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["idempotency_key"] == "k1"
    assert first.json()["url"].endswith(f"/@brand/{first.json()['id']}")
    listed = (await client.get("/v1/posts", params={"account": "brand"})).json()
    assert listed["count"] == 1
    requests = (await client.get("/v1/requests", params={"account": "brand"})).json()
    assert [r["outcome"] for r in requests["requests"]] == ["created", "replayed"]


async def test_key_is_per_account_and_reuse_with_other_body_is_refused(client):
    a = await client.post("/v1/posts", json=post_body("a"), headers={"Idempotency-Key": "k"})
    b = await client.post("/v1/posts", json=post_body("b"), headers={"Idempotency-Key": "k"})
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    other = await client.post(
        "/v1/posts", json=post_body("a", text="changed"), headers={"Idempotency-Key": "k"}
    )
    assert other.status_code == 422


async def test_replay_window_is_24_hours(client, clock):
    first = await client.post("/v1/posts", json=post_body(), headers={"Idempotency-Key": "k"})
    clock.now += 24 * 3600 + 1
    later = await client.post("/v1/posts", json=post_body(), headers={"Idempotency-Key": "k"})
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    summary = (await client.get("/v1/summary")).json()
    assert summary["duplicate_keys"] == [{"account": "brand", "idempotency_key": "k", "count": 2}]


async def test_listing_shows_duplicates_when_keys_differ_and_filters_by_key(client):
    for key in ("k1", "k2", "k3"):
        await client.post("/v1/posts", json=post_body(), headers={"Idempotency-Key": key})
    await client.post("/v1/posts", json=post_body())  # no key at all
    listed = (await client.get("/v1/posts", params={"account": "brand"})).json()
    assert listed["count"] == 4
    assert [p["idempotency_key"] for p in listed["posts"]] == ["k1", "k2", "k3", None]
    assert {"id", "account", "title", "text", "created_at", "engagement"} <= set(listed["posts"][0])
    by_key = (
        await client.get("/v1/posts", params={"account": "brand", "idempotency_key": "k2"})
    ).json()
    assert [p["idempotency_key"] for p in by_key["posts"]] == ["k2"]
    none = await client.get("/v1/posts", params={"account": "other", "idempotency_key": "k2"})
    assert none.json()["count"] == 0
    summary = (await client.get("/v1/summary")).json()
    assert (summary["posts"], summary["distinct_keys"], summary["posts_without_key"]) == (4, 3, 1)


async def test_blank_or_too_long_text_is_422(client):
    assert (await client.post("/v1/posts", json=post_body(text="  "))).status_code == 422
    assert (await client.post("/v1/posts", json=post_body(text="x" * 5001))).status_code == 422
    assert (await client.post("/v1/posts", json={"text": "no account"})).status_code == 422


async def test_error_rate_one_gives_500_and_creates_nothing(client):
    r = await client.put("/v1/behaviour", json={"error_rate": 1.0})
    assert r.json()["error_rate"] == 1.0
    resp = await client.post("/v1/posts", json=post_body(), headers={"Idempotency-Key": "k"})
    assert resp.status_code == 500
    assert (await client.get("/v1/posts")).json()["count"] == 0
    assert (await client.get("/v1/behaviour")).json()["error_rate"] == 1.0


async def test_error_rate_is_deterministic_from_the_seed(clock):
    async def outcomes() -> list[int]:
        app = create_sandbox_app(clock=clock, behaviour={"error_rate": 0.5, "seed": 7})
        async with client_for(app) as c:
            return [
                (await c.post("/v1/posts", json=post_body(text=f"t{i}"))).status_code
                for i in range(30)
            ]

    first, second = await outcomes(), await outcomes()
    assert first == second
    assert 5 < first.count(500) < 25 and first.count(201) == 30 - first.count(500)


async def test_rate_limit_answers_429_with_retry_after(client, clock):
    await client.put("/v1/behaviour", json={"rate_limit_per_minute": 2})
    codes = [(await client.post("/v1/posts", json=post_body())).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    limited = await client.post("/v1/posts", json=post_body())
    assert limited.headers["Retry-After"] == "60"
    assert (await client.post("/v1/posts", json=post_body("other"))).status_code == 201
    clock.now += 61
    assert (await client.post("/v1/posts", json=post_body())).status_code == 201


async def test_auth_token_switch_answers_401(client):
    await client.put("/v1/behaviour", json={"auth_token": "s3cret"})
    assert (await client.post("/v1/posts", json=post_body())).status_code == 401
    ok = await client.post(
        "/v1/posts", json=post_body(), headers={"Authorization": "Bearer s3cret"}
    )
    assert ok.status_code == 201
    assert (await client.get("/v1/behaviour")).json()["auth_token"] == "set"


async def test_bad_behaviour_is_refused(client):
    assert (await client.put("/v1/behaviour", json={"error_rate": 2})).status_code == 422
    assert (await client.put("/v1/behaviour", json={"time_scale": 0})).status_code == 422


async def test_timeout_creates_the_post_then_holds_the_answer():
    app = create_sandbox_app(behaviour={"timeout_rate": 1.0, "timeout_delay_s": 5.0})
    async with client_for(app) as c:
        with pytest.raises(asyncio.TimeoutError):
            async with asyncio.timeout(0.05):
                await c.post("/v1/posts", json=post_body(), headers={"Idempotency-Key": "k"})
        listed = await c.get("/v1/posts", params={"account": "brand", "idempotency_key": "k"})
        assert listed.json()["count"] == 1


async def test_latency_is_applied(clock):
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    app = create_sandbox_app(clock=clock, sleep=fake_sleep, behaviour={"latency_ms": 50})
    async with client_for(app) as c:
        assert (await c.post("/v1/posts", json=post_body())).status_code == 201
    assert slept == [0.05]


async def test_stats_grow_over_time_and_saturate(client, clock):
    created = (await client.post("/v1/posts", json=post_body())).json()
    url = f"/v1/posts/{created['id']}/stats"
    series = []
    for hours in (0, 1, 6, 24, 72, 24 * 30, 24 * 31):
        clock.now = 1_780_000_000.0 + hours * 3600
        series.append((await client.get(url)).json())
    impressions = [s["impressions"] for s in series]
    assert impressions[0] == 0
    assert impressions == sorted(impressions) and impressions[3] > impressions[1] > 0
    assert impressions[-1] - impressions[-2] <= impressions[-1] * 0.001  # saturated
    last = series[-1]
    assert last["views"] <= last["impressions"] and last["likes"] <= last["views"]
    for metric in ("reach", "views", "likes", "comments", "shares", "saves", "clicks", "follows"):
        values = [s[metric] for s in series]
        assert values == sorted(values), metric


async def impressions_after(scale: float, real_seconds: float) -> int:
    clock = FakeClock()
    app = create_sandbox_app(clock=clock, behaviour={"time_scale": scale})
    async with client_for(app) as c:
        post_id = (await c.post("/v1/posts", json=post_body())).json()["id"]
        clock.now += real_seconds
        return (await c.get(f"/v1/posts/{post_id}/stats")).json()["impressions"]


async def test_time_scale_compresses_time():
    fast = await impressions_after(3600, 24)  # 24 real seconds = 24 simulated hours
    assert fast == await impressions_after(1, 24 * 3600)
    assert fast > await impressions_after(1, 24)


async def test_changing_time_scale_never_moves_stats_back(client, clock):
    post_id = (await client.post("/v1/posts", json=post_body())).json()["id"]
    await client.put("/v1/behaviour", json={"time_scale": 3600})
    clock.now += 10
    before = (await client.get(f"/v1/posts/{post_id}/stats")).json()["impressions"]
    await client.put("/v1/behaviour", json={"time_scale": 1})
    after = (await client.get(f"/v1/posts/{post_id}/stats")).json()["impressions"]
    assert after == before > 0


async def test_stats_are_deterministic_per_seed_and_differ_between_posts(clock):
    async def impressions(seed: int) -> list[int]:
        app = create_sandbox_app(clock=clock, behaviour={"seed": seed})
        async with client_for(app) as c:
            ids = [(await c.post("/v1/posts", json=post_body())).json()["id"] for _ in range(6)]
            clock.now += 48 * 3600
            values = [(await c.get(f"/v1/posts/{i}/stats")).json()["impressions"] for i in ids]
            clock.now -= 48 * 3600
            return values

    a, again, other = await impressions(1), await impressions(1), await impressions(2)
    assert a == again
    assert a != other
    assert len(set(a)) > 1  # some posts weaker than others


async def test_post_detail_account_followers_and_reset(client, clock):
    created = (await client.post("/v1/posts", json=post_body())).json()
    detail = (await client.get(f"/v1/posts/{created['id']}")).json()
    assert detail["text"] == "Hello world" and "likes" in detail["engagement"]
    assert (await client.get("/v1/posts/999")).status_code == 404
    before = (await client.get("/v1/accounts/brand")).json()
    clock.now += 30 * 24 * 3600
    after = (await client.get("/v1/accounts/brand")).json()
    assert after["followers"] >= before["followers"] > 0
    assert after["posts"] == 1
    assert (await client.post("/v1/reset")).status_code == 204
    assert (await client.get("/v1/posts")).json()["count"] == 0
    assert (await client.get("/v1/requests")).json()["count"] == 0
