from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.publisher.connectors.base import (
    Account,
    NeedsReauth,
    OutcomeUnknown,
    Permanent,
    Post,
    Retriable,
)
from services.publisher.connectors.http import build_client
from services.publisher.connectors.wechat_mp import (
    WeChatMpConnector,
    article_html,
    seconds_until_beijing_midnight,
)
from tests.fakes import LossyTransport
from tests.fakes.wechat import FakeWeChat

BASE = "https://api.weixin.qq.com"
COVER = {"filename": "cover.jpg", "content_type": "image/jpeg", "data": b"\xff\xd8jpeg"}
POST = Post(
    idempotency_key="pub-9:acc-w",
    title="春季新品发布",
    text="第一段 <不是标签> & more\n\n第二段",
    media=[COVER],
    link="https://example.com/spring",
)


def account(**credentials) -> Account:
    return Account(
        id="acc-w",
        channel="wechat_mp",
        name="brand",
        settings={"author": "编辑部", "open_comment": True},
        credentials={"appid": "wx0123456789abcdef", "secret": "s3cret", **credentials},
    )


class Rig:
    def __init__(self, fake: FakeWeChat, *, attempts: int = 4) -> None:
        self.fake = fake
        self.now = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
        self.transport = LossyTransport(httpx.ASGITransport(app=fake.app))
        self.sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.conn = WeChatMpConnector(
            build_client(transport=self.transport),
            clock=lambda: self.now,
            sleep=sleep,
            publish_poll_attempts=attempts,
            publish_poll_interval_s=2.0,
        )

    def paths(self) -> list[str]:
        return [r.path.removeprefix("/cgi-bin/") for r in self.fake.harness.requests]


@pytest.fixture
def rig() -> Rig:
    return Rig(FakeWeChat(publish_polls=1))


async def test_publish_runs_the_documented_flow(rig: Rig) -> None:
    published = await rig.conn.publish(POST, account())

    assert rig.paths() == [
        "stable_token",
        "material/add_material",
        "draft/add",
        "freepublish/submit",
        "freepublish/get",
        "freepublish/get",
    ]
    calls = rig.fake.harness.requests
    assert calls[0].json() == {
        "grant_type": "client_credential",
        "appid": "wx0123456789abcdef",
        "secret": "s3cret",
        "force_refresh": False,
    }
    token = rig.fake.current_token
    assert all(c.q("access_token") == token for c in calls[1:])
    assert calls[1].q("type") == "image"
    [cover_id] = rig.fake.materials
    assert rig.fake.materials[cover_id] == COVER["data"]
    # Sent as real UTF-8, not \u escapes.
    assert "春季新品发布".encode() in calls[2].body
    [article] = calls[2].json()["articles"]
    assert article == {
        "title": "春季新品发布",
        "author": "编辑部",
        "digest": "第一段 <不是标签> & more 第二段",
        "content": "<p>第一段 &lt;不是标签&gt; &amp; more</p><p>第二段</p>",
        "content_source_url": "https://example.com/spring",
        "thumb_media_id": cover_id,
        "need_open_comment": 1,
        "only_fans_can_comment": 0,
    }
    [job] = rig.fake.jobs.values()
    assert job.draft == article  # the submitted draft is the one just added
    assert list(calls[3].json()) == ["media_id"]
    assert calls[4].json() == {"publish_id": job.publish_id}
    assert published.external_id == job.article_id
    assert published.url == f"https://mp.weixin.qq.com/s/{job.article_id}"
    assert rig.sleeps == [2.0, 2.0]


async def test_token_is_cached_until_five_minutes_before_expiry(rig: Rig) -> None:
    await rig.conn.publish(POST, account())
    rig.now += timedelta(seconds=7200 - 301)
    await rig.conn.publish(Post(**{**POST.__dict__, "title": "二"}), account())
    assert rig.paths().count("stable_token") == 1
    rig.now += timedelta(seconds=2)
    await rig.conn.publish(Post(**{**POST.__dict__, "title": "三"}), account())
    assert rig.paths().count("stable_token") == 2


async def test_expired_token_is_refreshed_once_and_the_call_retried(rig: Rig) -> None:
    await rig.conn.publish(POST, account())
    rig.fake.expire_tokens()
    rig.fake.harness.requests.clear()
    await rig.conn.publish(Post(**{**POST.__dict__, "title": "二"}), account())
    assert rig.paths()[:3] == ["material/add_material", "stable_token", "material/add_material"]
    assert rig.fake.harness.requests[1].json()["force_refresh"] is True
    assert len(rig.fake.published()) == 2


async def test_token_still_refused_after_refresh_needs_reauth(rig: Rig) -> None:
    rig.fake.tokens_broken = True
    with pytest.raises(NeedsReauth) as err:
        await rig.conn.publish(POST, account())
    assert err.value.detail["errcode"] == 40001
    assert rig.paths() == ["stable_token", "material/add_material"] * 2


async def test_wrong_secret_needs_reauth(rig: Rig) -> None:
    with pytest.raises(NeedsReauth, match="40125"):
        await rig.conn.publish(POST, account(secret="wrong"))


async def test_system_busy_is_retriable(rig: Rig) -> None:
    rig.fake.harness.inject(
        "POST", "/cgi-bin/draft/add", 200, {"errcode": -1, "errmsg": "system error"}
    )
    with pytest.raises(Retriable) as err:
        await rig.conn.publish(POST, account())
    assert err.value.detail["errcode"] == -1
    assert rig.fake.jobs == {}


async def test_daily_quota_defers_until_beijing_midnight(rig: Rig) -> None:
    rig.fake.harness.inject(
        "POST",
        "/cgi-bin/freepublish/submit",
        200,
        {"errcode": 45009, "errmsg": "reach max api daily quota limit"},
    )
    with pytest.raises(Retriable) as err:
        await rig.conn.publish(POST, account())
    assert err.value.defer_s == 12 * 3600  # 12:00 Shanghai -> midnight


def test_beijing_midnight_across_utc_date() -> None:
    # 23:30 UTC is 07:30 next day in Shanghai: 16.5 h to go.
    assert seconds_until_beijing_midnight(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)) == 59400


@pytest.mark.parametrize("code", [45002, 45003, 45004, 40007, 40009, 44003, 53503, 53504, 53505])
async def test_content_errors_are_permanent(rig: Rig, code: int) -> None:
    rig.fake.harness.inject(
        "POST", "/cgi-bin/freepublish/submit", 200, {"errcode": code, "errmsg": "x"}
    )
    with pytest.raises(Permanent) as err:
        await rig.conn.publish(POST, account())
    assert err.value.detail["errcode"] == code


async def test_real_title_limit_from_the_fake_is_permanent(rig: Rig) -> None:
    long_title = Post(**{**POST.__dict__, "title": "标题" * 11})  # 66 bytes
    assert "title must be at most 32 characters and 64 UTF-8 bytes" in rig.conn.validate(
        long_title, account()
    )
    with pytest.raises(Permanent, match="45003 title size out of limit"):
        await rig.conn.publish(long_title, account())


@pytest.mark.parametrize(
    ("status", "reason"),
    [(2, "originality"), (3, "publishing failed"), (4, "review"), (5, "deleted"), (6, "banned")],
)
async def test_failed_publish_jobs_are_permanent(rig: Rig, status: int, reason: str) -> None:
    rig.fake.final_status = status
    with pytest.raises(Permanent, match=reason) as err:
        await rig.conn.publish(POST, account())
    assert err.value.detail["publish_status"] == status


async def test_job_still_running_is_unknown_and_reconciled_by_publish_id() -> None:
    rig = Rig(FakeWeChat(publish_polls=10), attempts=3)
    with pytest.raises(OutcomeUnknown) as err:
        await rig.conn.publish(POST, account())
    publish_id = err.value.detail["publish_id"]
    assert publish_id in rig.fake.jobs
    fresh = Rig(rig.fake)  # another worker process: no in-memory hint
    with pytest.raises(OutcomeUnknown):
        await fresh.conn.find_existing(POST, account(), publish_id=publish_id)
    rig.fake.finish_jobs()
    found = await fresh.conn.find_existing(POST, account(), publish_id=publish_id)
    assert found is not None
    assert found.external_id == rig.fake.jobs[publish_id].article_id


async def test_failed_job_reconciles_to_nothing_live() -> None:
    rig = Rig(FakeWeChat(publish_polls=10, final_status=3), attempts=1)
    with pytest.raises(OutcomeUnknown) as err:
        await rig.conn.publish(POST, account())
    rig.fake.finish_jobs()
    assert (
        await rig.conn.find_existing(POST, account(), publish_id=err.value.detail["publish_id"])
        is None
    )


async def test_lost_submit_answer_is_unknown_then_found_by_title(rig: Rig) -> None:
    rig.transport.lose_answer("POST", "/cgi-bin/freepublish/submit")
    with pytest.raises(OutcomeUnknown) as err:
        await rig.conn.publish(POST, account())
    assert err.value.detail["draft_media_id"].startswith("DRAFT_")
    assert "publish_id" not in err.value.detail
    fresh = Rig(rig.fake)
    rig.fake.finish_jobs()
    found = await fresh.conn.find_existing(POST, account())
    [job] = rig.fake.jobs.values()
    assert found is not None
    assert (found.external_id, found.url) == (job.article_id, rig.fake.article_url(job))
    other = Post(**{**POST.__dict__, "title": "别的标题"})
    assert await fresh.conn.find_existing(other, account()) is None


async def test_refresh_keeps_app_credentials_and_adds_token(rig: Rig) -> None:
    refreshed = await rig.conn.refresh(account())
    assert refreshed is not None
    assert refreshed.credentials["appid"] == "wx0123456789abcdef"
    assert refreshed.credentials["secret"] == "s3cret"
    assert refreshed.credentials["access_token"] == rig.fake.current_token
    assert refreshed.expires_at == rig.now + timedelta(seconds=7200)
    # A connector seeded from stored credentials reuses the token without fetching one.
    fresh = Rig(rig.fake)
    fresh.now = rig.now
    rig.fake.harness.requests.clear()
    await fresh.conn.publish(
        POST,
        account(
            **{k: refreshed.credentials[k] for k in ("access_token", "access_token_expires_at")}
        ),
    )
    assert "stable_token" not in fresh.paths()


async def test_refresh_with_bad_secret_never_returns_empty_credentials(rig: Rig) -> None:
    with pytest.raises(NeedsReauth):
        await rig.conn.refresh(account(secret="wrong"))


def test_validate_requires_title_and_cover(rig: Rig) -> None:
    assert rig.conn.validate(POST, account()) == []
    bare = Post(idempotency_key="k", title=None, text="body")
    assert rig.conn.validate(bare, account()) == [
        "a title is required",
        "a cover image is required",
    ]


def test_html_body_is_kept_and_text_is_escaped() -> None:
    assert article_html("<p>ready <b>html</b></p>") == "<p>ready <b>html</b></p>"
    assert article_html("a < b\nc") == "<p>a &lt; b<br/>c</p>"


async def test_gateway_error_on_submit_is_unknown_but_retriable_before(rig: Rig) -> None:
    rig.fake.harness.inject("POST", "/cgi-bin/freepublish/submit", 502, {"error": "bad gateway"})
    with pytest.raises(OutcomeUnknown):
        await rig.conn.publish(POST, account())
    rig.fake.harness.inject("POST", "/cgi-bin/draft/add", 503, {"error": "unavailable"})
    with pytest.raises(Retriable):
        await rig.conn.publish(POST, account())
