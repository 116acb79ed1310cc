"""The whole loop, plan -> create -> distribute -> analyse -> optimise, through the public API.

`Loop` is shared by `./run demo` (which narrates each step) and `tests/e2e/test_loop.py`
(which asserts on what each step returns). Every step only calls the HTTP APIs of the four
services and of the sandbox platform; nothing reads a database or a queue.

The cast (one token each, one workspace per run):
  mia  manager   goal, campaign, accounts, the manager's approval of campaign content
  pat  planner   pillars, topics and their approval, scheduling
  alice editor   writes the items and their channel variants (the author)
  bob  reviewer  the review stage (not the author: separation of duties)
  ana  analyst   stats, the report, the diagnosis, insights

Time is compressed: the services run with MEDIAOPS_TIME_SCALE (post-age checkpoints) and the
sandbox with the same `time_scale` (how fast engagement grows), so "24 hours after posting"
arrives in 24 h / scale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from demo.client import Api, ApiError, Urls, wait_for

ROLES = {
    "manager": ("mia", ["manager"]),
    "planner": ("pat", ["planner"]),
    "editor": ("alice", ["editor"]),
    "reviewer": ("bob", ["reviewer"]),
    "analyst": ("ana", ["analyst"]),
}
CHANNELS = ("weibo", "x", "mastodon")  # one variant each, posted on its own sandbox account
BAD_PHRASE = "全网最低价，国家级品质！"  # Advertising Law: absolute claims -> blocked
FIXED_PHRASE = "口碑好物，用心品质。"
TZ = "Asia/Shanghai"


class Narrator:
    """What the loop tells while it runs; the demo prints, the tests keep the lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, title: str) -> None:
        self.lines.append(f"== {title}")

    def say(self, text: str) -> None:
        self.lines.append(f"   {text}")

    def progress(self, text: str) -> None:
        pass


@dataclass
class Config:
    workspace: str
    time_scale: float = 7200.0
    # How long to wait for anything asynchronous (events, the worker, a checkpoint).
    timeout: float = 60.0
    # The planned slot (the calendar's publication time) lies this far ahead of the topic.
    planned_after_s: float = 12.0


@dataclass
class LoopState:
    """Everything the loop created or observed, for the narration and for the assertions."""

    workspace: dict[str, Any] = field(default_factory=dict)
    members: list[dict[str, Any]] = field(default_factory=list)
    goal: dict[str, Any] = field(default_factory=dict)
    pillars: list[dict[str, Any]] = field(default_factory=list)
    campaign: dict[str, Any] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # weibo/x/mastodon/rss
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    blocked_submit: dict[str, Any] = field(default_factory=dict)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    publications: dict[str, dict[str, Any]] = field(default_factory=dict)  # key item/channel
    sandbox_posts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    weak_key: str = ""
    post_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    report_html: str = ""
    insights: list[dict[str, Any]] = field(default_factory=list)
    goal_progress: dict[str, Any] = field(default_factory=dict)
    metrics_goal: dict[str, Any] = field(default_factory=dict)
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    calendar: dict[str, Any] = field(default_factory=dict)
    ics: str = ""
    feed: str = ""


# --- the sandbox's engagement model, to pick seeds (deploy/sandbox/world.py) ---------------


def _unit(*parts: object) -> float:
    """The sandbox's deterministic draw in [0, 1) (same as `deploy.sandbox.world._unit`)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def strong_seed(handles: list[str]) -> int:
    """A seed under which every handle has a sizeable audience (>= 5,500 followers)."""
    return next(
        s for s in range(1, 100_000) if all(_unit(s, h, "followers") >= 0.25 for h in handles)
    )


def weak_seed(handle: str, post_id: str) -> int:
    """A seed under which the post `post_id` of `handle` is a dud: few followers, a weak post
    and a slow start. The sandbox keeps each post's seed, so earlier posts are unchanged."""
    return next(
        s
        for s in range(1, 1_000_000)
        if _unit(s, handle, "followers") < 0.02
        and _unit(s, post_id, "strength") < 0.1
        and _unit(s, post_id, "pace") > 0.8
    )


# --- the loop ------------------------------------------------------------------------------


class Loop:
    def __init__(
        self,
        urls: Urls,
        tokens: dict[str, str],
        config: Config,
        narrator: Narrator | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.urls = urls
        self.config = config
        self.out = narrator or Narrator()
        self.http = http or httpx.Client(timeout=30)
        self.as_ = {role: Api(self.http, urls, tokens[role], role) for role in ROLES}
        self.sandbox = Api(self.http, urls, None, "sandbox")
        self.s = LoopState()
        self.started = datetime.now(UTC)

    # shorthands for the cast
    @property
    def mia(self) -> Api:
        return self.as_["manager"]

    @property
    def pat(self) -> Api:
        return self.as_["planner"]

    @property
    def alice(self) -> Api:
        return self.as_["editor"]

    @property
    def bob(self) -> Api:
        return self.as_["reviewer"]

    @property
    def ana(self) -> Api:
        return self.as_["analyst"]

    def wait(
        self, check: Callable[[], Any], what: str, timeout: float | None = None, **kw: Any
    ) -> Any:
        return wait_for(
            check,
            what,
            timeout=timeout or self.config.timeout,
            progress=self.out.progress,
            **kw,
        )

    def handle(self, channel: str) -> str:
        return f"{self.config.workspace}-{channel}"

    # 1. plan ------------------------------------------------------------------------------

    def setup_workspace(self) -> dict[str, Any]:
        self.out.step(f"Workspace {self.config.workspace!r}: the team")
        _, etag = self.mia.etag_of("planning", "/v1/workspace")
        ws = self.mia.put(
            "planning",
            "/v1/workspace",
            {"name": "Demo Tea Co. (新媒体运营)", "timezone": TZ},
            headers={"If-Match": etag},
        )
        self.s.workspace = ws
        for role, (sub, roles) in ROLES.items():
            member = self.mia.post(
                "planning",
                "/v1/members",
                {"user_id": sub, "display_name": sub.title(), "roles": roles},
            )
            self.s.members.append(member)
            self.out.say(f"{sub:<6} {role}")
        self.out.say(f"time zone {ws['timezone']}; time runs x{self.config.time_scale:g}")
        return ws

    def plan(self) -> None:
        self.out.step("Plan: a goal, pillars, a campaign, topics")
        tz = ZoneInfo(TZ)
        today = datetime.now(tz).date()
        first = today.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        self.s.goal = self.mia.post(
            "planning",
            "/v1/goals",
            {
                "name": "Engagements this month",
                "metric": "engagements",
                "target": 20000,
                "period_start": first.isoformat(),
                "period_end": nxt.isoformat(),
            },
        )
        g = self.s.goal
        self.out.say(
            f"goal: {g['name']} - {g['metric']} {g['target']:g} by {nxt.isoformat()} "
            f"(progress {g['progress']['current']:g})"
        )
        for name, share in (("product tips", 0.5), ("brand stories", 0.3), ("community", 0.2)):
            self.s.pillars.append(
                self.pat.post("planning", "/v1/pillars", {"name": name, "target_share": share})
            )
        self.out.say(
            "pillars: " + ", ".join(f"{p['name']} {p['target_share']:.0%}" for p in self.s.pillars)
        )
        now = datetime.now(tz)
        self.s.campaign = self.mia.post(
            "planning",
            "/v1/campaigns",
            {
                "name": "Winter tea week",
                "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(days=14)).isoformat(),
                "goal_ids": [g["id"]],
                "theme": "Warm cups for cold days",
                "budget": {"amount": "5000", "currency": "CNY"},
            },
        )
        self.s.campaign = self.mia.post("planning", f"/v1/campaigns/{self.s.campaign['id']}/launch")
        self.out.say(f"campaign: {self.s.campaign['name']} ({self.s.campaign['status']})")
        planned = now + timedelta(seconds=self.config.planned_after_s)
        specs = {
            "brew": ("Three ways to brew winter tea", "product tips", None),
            "origin": ("Where our leaves come from", "brand stories", None),
            "planned": ("Tea-time tips for the weekend", "product tips", planned),
            "night": ("A late-night tea thought", "community", None),
        }
        for key, (title, pillar, when) in specs.items():
            body: dict[str, Any] = {
                "title": title,
                "format": "article",
                "pillar": pillar,
                "goal_id": g["id"],
                "campaign_id": self.s.campaign["id"],
            }
            if when is not None:
                body["planned_for"] = when.isoformat()
            topic = self.pat.post("planning", "/v1/topics", body)
            assert topic["status"] == "idea", topic
            approved = self.pat.post("planning", f"/v1/topics/{topic['id']}/approve")
            self.s.topics[key] = approved
            slot = f", slot {when:%H:%M:%S}" if when is not None else ""
            self.out.say(f"topic {title!r}: idea -> {approved['status']}{slot}")

    # 2. create ----------------------------------------------------------------------------

    def connect_accounts(self) -> None:
        self.out.step("Channels: sandbox accounts (one handle per platform) and an RSS feed")
        for ch in CHANNELS:
            acc = self.mia.post(
                "publisher",
                "/v1/accounts",
                {
                    "channel": "sandbox",
                    "name": f"{ch} (sandbox)",
                    "settings": {"handle": self.handle(ch)},
                },
            )
            self.s.accounts[ch] = acc
            self.out.say(f"{ch:<9} -> sandbox account @{self.handle(ch)}")
        self.s.accounts["rss"] = self.mia.post(
            "publisher", "/v1/accounts", {"channel": "rss", "name": "Website feed"}
        )
        self.out.say(
            f"rss       -> {self.urls.publisher}/v1/feeds/{self.s.accounts['rss']['id']}.atom"
        )
        # Engagement on the sandbox is deterministic per seed: a seed where every handle has
        # a real audience, so the dud later stands out against its peers.
        seed = strong_seed([self.handle(ch) for ch in CHANNELS])
        self.s.seeds["strong"] = seed
        self.sandbox.put(
            "sandbox", "/v1/behaviour", {"time_scale": self.config.time_scale, "seed": seed}
        )

    def write_item(self, key: str, body: str, *, planned: bool = False) -> dict[str, Any]:
        topic = self.s.topics[key]
        payload: dict[str, Any] = {
            "title": topic["title"],
            "format": "article",
            "body": body,
            "topic_id": topic["id"],
            "campaign_id": self.s.campaign["id"],
            "pillar": topic["pillar"],
            "link": "https://tea.example.com/winter",
        }
        if planned:
            payload["planned_for"] = topic["planned_for"]
            payload["account_ids"] = [
                self.s.accounts["rss"]["id"],
                self.s.accounts["mastodon"]["id"],
            ]
        item = self.alice.post("content", "/v1/items", payload)
        assert item["status"] == "draft" and item["version"] == 1, item
        variants: dict[str, dict[str, Any]] = {}
        for ch in CHANNELS:
            # Weibo's share API takes no tags (nor #话题# in the text) and needs a URL in it.
            fields: dict[str, Any] = {"channel": ch, "body": f"{topic['title']}\n\n{body}"}
            if ch == "weibo":
                fields["body"] += " https://tea.example.com/winter"
            else:
                fields["hashtags"] = ["wintertea"]
            variant = self.alice.post("content", f"/v1/items/{item['id']}/variants", fields)
            assert variant["problems"] == [], variant
            variants[ch] = variant
        self.s.items[key] = item
        self.s.variants[key] = variants
        return item

    def create(self) -> None:
        self.out.step("Create: items with a variant per channel")
        self.write_item("brew", f"{BAD_PHRASE}三种冲泡方法，冬天喝茶更暖。")
        self.write_item("origin", "从云南的茶园到你的杯子：我们的茶叶从哪里来。")
        self.write_item("planned", "周末的下午茶：三个小技巧。", planned=True)
        self.write_item("night", "深夜的一杯茶，和一点想法。")
        for key, item in self.s.items.items():
            self.out.say(
                f"{item['title']!r} v{item['version']}: {', '.join(self.s.variants[key])} variants fit their rules"
            )

    def review(self) -> None:
        self.out.step("Review: compliance, the reviewer, the manager")
        brew = self.s.items["brew"]
        out = self.alice.post("content", f"/v1/items/{brew['id']}/submit")
        self.s.blocked_submit = out
        stage = out["review"]["stages"][0]
        found = sorted({(f["severity"], f["term"], f["category"]) for f in out["findings"]})
        self.out.say(f"{brew['title']!r} submitted: compliance {stage['state']}")
        for severity, term, category in found:
            self.out.say(f"  {severity:<5} {term} ({category})")
        self.fix_item("brew", BAD_PHRASE, FIXED_PHRASE)
        self.out.say(f"alice rewrites {BAD_PHRASE!r} as {FIXED_PHRASE!r}")
        for key in self.s.items:
            self.approve(key)

    def fix_item(self, key: str, old: str, new: str) -> None:
        iid = self.s.items[key]["id"]
        item, etag = self.alice.etag_of("content", f"/v1/items/{iid}")
        self.alice.patch(
            "content", f"/v1/items/{iid}", {"body": item["body"].replace(old, new)}, etag
        )
        for ch, variant in self.s.variants[key].items():
            path = f"/v1/items/{iid}/variants/{variant['id']}"
            current, v_etag = self.alice.etag_of("content", path)
            self.s.variants[key][ch] = self.alice.patch(
                "content", path, {"body": current["body"].replace(old, new)}, v_etag
            )

    def approve(self, key: str) -> None:
        iid = self.s.items[key]["id"]
        out = self.alice.post("content", f"/v1/items/{iid}/submit")
        assert out["review"]["current_stage"] == "review", out["review"]
        content_hash = out["item"]["content_hash"]
        decided = self.bob.post(
            "content",
            f"/v1/items/{iid}/reviews",
            {"decision": "approve", "comment": "好", "content_hash": content_hash},
        )
        self.s.reviews.append(decided)
        # campaign content also needs a manager
        decided = self.mia.post(
            "content",
            f"/v1/items/{iid}/reviews",
            {"decision": "approve", "content_hash": content_hash},
        )
        self.s.reviews.append(decided)
        assert decided["status"] == "approved", decided
        self.s.items[key] = decided["item"]
        self.out.say(
            f"{decided['item']['title']!r} v{decided['item']['version']}: compliance passed, "
            f"bob approved, mia approved -> {decided['status']}"
        )

    # 3. distribute ------------------------------------------------------------------------

    def schedule(self, key: str, channel: str) -> dict[str, Any]:
        """ASAP on the channel's sandbox account; retried while the approval is in flight."""
        body = {
            "item_id": self.s.items[key]["id"],
            "variant_id": self.s.variants[key][channel]["id"],
            "account_id": self.s.accounts[channel]["id"],
        }

        def attempt() -> dict[str, Any] | None:
            try:
                return self.pat.post("publisher", "/v1/publications", body)  # type: ignore[no-any-return]
            except ApiError as exc:
                if exc.status == 409 and "approved" in str(exc.body):
                    return None  # content.item.approved not consumed by the publisher yet
                raise

        pub = self.wait(attempt, "the publisher to learn of the approval")
        self.s.publications[f"{key}/{channel}"] = pub
        return pub

    def publication(self, pub_id: str) -> dict[str, Any]:
        return self.pat.get("publisher", f"/v1/publications/{pub_id}")  # type: ignore[no-any-return]

    def wait_published(self, keys: list[str]) -> None:
        def statuses() -> dict[str, str]:
            for k in keys:
                if self.s.publications[k]["status"] not in ("published", "failed", "cancelled"):
                    self.s.publications[k] = self.publication(self.s.publications[k]["id"])
            return {k: self.s.publications[k]["status"] for k in keys}

        def done() -> bool:
            return all(v in ("published", "failed", "cancelled") for v in statuses().values())

        def line() -> str:
            counts: dict[str, int] = {}
            for k in keys:
                st = self.s.publications[k]["status"]
                counts[st] = counts.get(st, 0) + 1
            return ", ".join(f"{n} {st}" for st, n in sorted(counts.items()))

        self.wait(done, "the workers to publish", status=line)
        failed = {
            k: self.s.publications[k].get("last_error")
            for k in keys
            if self.s.publications[k]["status"] != "published"
        }
        assert not failed, f"not published: {failed}"

    def distribute(self) -> None:
        self.out.step("Distribute: schedule, the workers publish")
        asap = []
        for key in ("brew", "origin"):
            for ch in CHANNELS:
                pub = self.schedule(key, ch)
                asap.append(f"{key}/{ch}")
                assert pub["status"] == "scheduled", pub
        self.out.say(
            f"{len(asap)} publications scheduled as soon as possible (2 items x {len(CHANNELS)} channels)"
        )
        # The planned item carried planned_for + account_ids: the publisher booked them itself.
        planned_id = self.s.items["planned"]["id"]

        def booked() -> list[dict[str, Any]] | None:
            rows = self.pat.get("publisher", "/v1/publications", params={"item_id": planned_id})[
                "items"
            ]
            return rows if len(rows) == 2 else None

        for row in self.wait(booked, "the planned slot to be booked"):
            channel = "rss" if row["account_id"] == self.s.accounts["rss"]["id"] else "mastodon"
            self.s.publications[f"planned/{channel}"] = row
        slot = datetime.fromisoformat(self.s.publications["planned/rss"]["scheduled_at"])
        self.out.say(
            f"{self.s.items['planned']['title']!r} booked by the calendar slot at "
            f"{slot.astimezone(ZoneInfo(TZ)):%H:%M:%S} on rss and mastodon "
            f"({self.s.publications['planned/rss']['status']})"
        )
        self.wait_published(asap)
        for key in asap:
            p = self.s.publications[key]
            self.out.say(f"published {key:<16} -> {p['url']}")
        self.wait_published(["planned/rss", "planned/mastodon"])
        for key in ("planned/rss", "planned/mastodon"):
            p = self.s.publications[key]
            self.out.say(f"published {key:<16} at the slot -> {p['url'] or p['external_id']}")
        self.read_sandbox()

    def read_sandbox(self) -> None:
        self.out.say("the sandbox's own record of what it received:")
        for ch in CHANNELS:
            posts = self.sandbox.get("sandbox", "/v1/posts", params={"account": self.handle(ch)})[
                "posts"
            ]
            self.s.sandbox_posts[ch] = posts
            for p in posts:
                first = (p["text"] or "").splitlines()[0]
                self.out.say(f"  @{p['account']} #{p['id']} {first!r} key={p['idempotency_key']}")

    def publish_weak(self) -> None:
        """The late-night post: a seed chosen so the sandbox's crowd barely notices it."""
        self.out.step("A weak post: late at night, to almost nobody")
        summary = self.sandbox.get("sandbox", "/v1/summary")
        next_id = str(summary["posts"] + 1)
        seed = weak_seed(self.handle("weibo"), next_id)
        self.s.seeds["weak"] = seed
        self.sandbox.put("sandbox", "/v1/behaviour", {"seed": seed})
        self.s.weak_key = "night/weibo"
        pub = self.schedule("night", "weibo")
        self.wait_published([self.s.weak_key])
        pub = self.s.publications[self.s.weak_key]
        self.out.say(f"{self.s.items['night']['title']!r} published -> {pub['url']}")

    # 4. analyse ---------------------------------------------------------------------------

    def post_metrics(self, key: str) -> dict[str, Any]:
        pub_id = self.s.publications[key]["id"]
        data = self.ana.get("metrics", f"/v1/publications/{pub_id}")
        self.s.post_metrics[key] = data
        return data  # type: ignore[no-any-return]

    def analyse(self) -> None:
        self.out.step("Analyse: stats polled at post-age checkpoints (1h, 6h, 24h compressed)")
        hours = 24 / self.config.time_scale * 3600
        self.out.say(f"24 hours of a post's life take {hours:.0f} s here")
        keys = [k for k in self.s.publications if not k.startswith("planned/rss")]

        def at_24h(key: str) -> Callable[[], bool]:
            def check() -> bool:
                try:
                    data = self.post_metrics(key)
                except ApiError as exc:
                    if exc.status == 404:
                        return False
                    raise
                return any(c["checkpoint"] == "24h" for c in data["checkpoints"])

            return check

        def got() -> str:
            data = self.s.post_metrics.get(self.s.weak_key) or {}
            return "weak post at " + (
                ",".join(c["checkpoint"] for c in data.get("checkpoints", [])) or "-"
            )

        for key in keys:
            self.wait(
                at_24h(key),
                f"{key} at its 24h checkpoint",
                timeout=self.config.timeout + 30,
                status=got,
            )
        # Stored points reach the rollups (latest values, reports) within the rollup lag.
        self.wait(
            lambda: self.ana.get("metrics", "/v1/ops/rollups")["pending"] == 0,
            "the metrics rollups to catch up",
        )
        for key in keys:
            self.post_metrics(key)
        first = self.s.post_metrics["brew/weibo"]
        for cp in first["checkpoints"]:
            v = cp["values"]
            self.out.say(
                f"brew/weibo at {cp['checkpoint']:>3}: impressions {v.get('impressions', 0):>7,.0f}  "
                f"views {v.get('views', 0):>6,.0f}  engagements {v.get('engagements', 0):>5,.0f}"
            )
        for key in keys:
            latest = self.s.post_metrics[key]["latest"]
            self.out.say(
                f"{key:<16} impressions {latest.get('impressions', 0):>7,.0f}  engagements {latest.get('engagements', 0):>5,.0f}"
            )

    def diagnose(self) -> list[dict[str, Any]]:
        self.out.step("Why did the late-night post do badly? (diagnosis at 24h vs its peers)")
        data = self.post_metrics(self.s.weak_key)
        findings = [d for d in data["diagnosis"] if d["cause"] != "not_enough_data"]
        for d in findings:
            self.out.say(
                f"{d['severity']:<6} {d['metric']}: {_num(d['value'])} vs median {_num(d['baseline_median'])} "
                f"of {d['sample_size']} peers ({d['ratio']:.0%}) -> {d['cause']}"
            )
            self.out.say(f"       {d['suggestion']}")
        return findings

    def report(self) -> None:
        self.out.step("The weekly report")
        tz = ZoneInfo(TZ)
        today: date = datetime.now(tz).date()
        params = {"period": "week", "start": today.isoformat()}
        self.s.report = self.ana.get("metrics", "/v1/reports", params=params)
        r = self.s.report
        totals = r.get("totals", {})
        eng = totals.get("engagements", {})
        imp = totals.get("impressions", {})
        period = r["period"]
        self.out.say(
            f"week {period['first_day']} - {period['last_day']}: impressions {_cur(imp):,.0f}, "
            f"engagements {_cur(eng):,.0f}"
        )
        for label, rows in (("top", r["top_posts"][:1]), ("bottom", r["bottom_posts"][:1])):
            for p in rows:
                causes = sorted(
                    {d["cause"] for d in p["diagnoses"] if d["cause"] != "not_enough_data"}
                )
                why = f" - {', '.join(causes)}" if causes else ""
                self.out.say(
                    f"{label} post: {p['title']!r}, {p['primary_value'] or 0:,.0f} engagements{why}"
                )
        html = self.ana.request(
            "metrics", "GET", "/v1/reports", params={**params, "format": "html"}
        )
        self.s.report_html = html.text

    def insights(self) -> None:
        self.out.step("Optimise: insights, goal progress, next period's suggestions")
        goal_id = self.s.goal["id"]

        def progressed() -> dict[str, Any] | None:
            g = self.mia.get("planning", f"/v1/goals/{goal_id}")
            return g if (g["progress"]["updated_at"] and g["progress"]["current"] > 0) else None

        def insights() -> list[dict[str, Any]] | None:
            rows = self.ana.get("metrics", "/v1/insights", params={"limit": 50})["items"]
            return rows or None

        self.s.goal_progress = self.wait(progressed, "goal progress from the analyst")["progress"]
        self.s.metrics_goal = self.ana.get("metrics", f"/v1/goals/{goal_id}")
        self.s.insights = self.wait(insights, "insights from the analyst")
        names = {t["id"]: t["title"] for t in self.s.topics.values()}
        for text in dict.fromkeys(_named(i["recommendation"], names) for i in self.s.insights[:8]):
            self.out.say(f"insight: {text}")
        p = self.s.goal_progress
        self.out.say(
            f"goal {self.s.goal['name']!r}: {p['current']:,.0f} of {self.s.goal['target']:,.0f} "
            f"({p['ratio']:.1%}), {'on track' if p['on_track'] else 'behind pace'}"
        )

        def suggestions() -> list[dict[str, Any]] | None:
            rows = self.pat.get("planning", "/v1/suggestions")["items"]
            fed = [
                s for s in rows if s["kind"] not in ("under_served_pillar", "over_served_pillar")
            ]
            return rows if fed else None

        self.s.suggestions = self.wait(suggestions, "suggestions built from the insights")
        for text in dict.fromkeys(
            _named(s["recommendation"], names) for s in self.s.suggestions[:8]
        ):
            self.out.say(f"next period: {text}")

    def calendar(self) -> None:
        tz = ZoneInfo(TZ)
        start = datetime.now(tz).date() - timedelta(days=1)
        self.s.calendar = self.pat.get(
            "planning",
            "/v1/calendar",
            params={"start": start.isoformat(), "end": (start + timedelta(days=7)).isoformat()},
        )
        ws = self.pat.get("planning", "/v1/workspace")
        self.s.feed = f"{self.urls.planning}{ws['calendar_feed_path']}"
        self.s.ics = self.http.get(self.s.feed).text

    def run(self) -> LoopState:
        self.setup_workspace()
        self.plan()
        self.connect_accounts()
        self.create()
        self.review()
        self.distribute()
        self.publish_weak()
        self.analyse()
        self.diagnose()
        self.report()
        self.insights()
        self.calendar()
        return self.s


def _named(text: str, names: dict[str, str]) -> str:
    """Topic ids in a recommendation replaced by the topics' titles."""
    for topic_id, title in names.items():
        text = text.replace(topic_id, title)
    return text


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.3g}"


def _cur(metric: Any) -> float:
    if isinstance(metric, dict):
        return float(metric.get("current") or 0)
    return float(metric or 0)
