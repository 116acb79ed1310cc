"""The calendar (排期): views in the workspace zone, conflicts, entries, and the .ics feeds
parsed with the icalendar library across a DST change (Europe/Berlin)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest

from .support import Planning, assert_problem

pytestmark = pytest.mark.infra


async def test_week_view_days_and_conflicts(planning: Planning) -> None:
    async with planning.client("manager") as c:
        await c.put(
            "/v1/workspace",
            json={"blackout_dates": [{"first_day": "2026-04-09", "reason": "memorial day"}]},
        )
        await c.post(
            "/v1/members", json={"user_id": "ann", "display_name": "Ann", "capacity_per_week": 1}
        )
        slot = {"kind": "publication", "channels": ["weibo"], "account_ids": ["weibo-main"]}
        a = await c.post(
            "/v1/calendar/entries",
            json={
                **slot,
                "title": "A",
                "starts_at": "2026-04-07T20:00:00+08:00",
                "assignee_ids": ["ann"],
            },
        )
        assert a.status_code == 201, a.text
        b = await c.post(
            "/v1/calendar/entries",
            json={
                **slot,
                "title": "B",
                "starts_at": "2026-04-07T20:10:00+08:00",
                "assignee_ids": ["ann"],
            },
        )
        d = await c.post(
            "/v1/calendar/entries",
            json={
                **slot,
                "title": "D",
                "starts_at": "2026-04-09T08:00:00+08:00",
                "account_ids": ["wx"],
            },
        )
        k = await c.post(
            "/v1/calendar/entries",
            json={
                "kind": "key_date",
                "title": "Qingming",
                "day": "2026-04-05",
                "category": "holiday",
            },
        )
        assert k.status_code == 201, k.text
        # Late on Sunday in Shanghai is still Sunday there (Saturday 16:30 UTC + 8h = 00:30 Sun).
        late = await c.post(
            "/v1/calendar/entries",
            json={
                **slot,
                "title": "Late",
                "starts_at": "2026-04-12T23:30:00+08:00",
                "account_ids": ["x"],
            },
        )
        view = (await c.get("/v1/calendar", params={"start": "2026-04-08", "view": "week"})).json()
        assert view["timezone"] == "Asia/Shanghai"
        assert (
            view["start"] == "2026-04-06T00:00:00+08:00"
            and view["end"] == "2026-04-13T00:00:00+08:00"
        )
        assert [d_["date"] for d_ in view["days"]] == [
            (date(2026, 4, 6) + timedelta(days=i)).isoformat() for i in range(7)
        ]
        by_day = {d_["date"]: d_["entry_ids"] for d_ in view["days"]}
        assert by_day["2026-04-07"] == [a.json()["id"], b.json()["id"]]
        assert by_day["2026-04-12"] == [late.json()["id"]]
        assert k.json()["id"] not in {e["id"] for e in view["entries"]}  # the 5th: last week
        kinds = {(c_["kind"], tuple(c_["entry_ids"])) for c_ in view["conflicts"]}
        assert ("same_slot", (a.json()["id"], b.json()["id"])) in kinds
        assert ("member_over_capacity", (a.json()["id"], b.json()["id"])) in kinds
        assert ("blackout", (d.json()["id"],)) in kinds
        blackout = next(c_ for c_ in view["conflicts"] if c_["kind"] == "blackout")
        assert "memorial day" in blackout["message"]

        month = (
            await c.get("/v1/calendar", params={"start": "2026-04-20", "view": "month"})
        ).json()
        assert len(month["days"]) == 30 and k.json()["id"] in {e["id"] for e in month["entries"]}
        ranged = await c.get("/v1/calendar", params={"start": "2026-04-05", "end": "2026-04-06"})
        assert [e["id"] for e in ranged.json()["entries"]] == [k.json()["id"]]


async def test_calendar_bad_input(planning: Planning) -> None:
    async with planning.client("planner") as c:
        assert_problem(
            await c.get("/v1/calendar", params={"start": "2026-01-01", "end": "2027-06-01"}),
            422,
            "end",
        )
        assert_problem(await c.get("/v1/calendar", params={"start": "2026-01-01"}), 422, "end")
        assert_problem(
            await c.get("/v1/calendar", params={"start": "2026-02-01", "end": "2026-01-01"}),
            422,
            "end",
        )
        assert_problem(
            await c.get("/v1/calendar", params={"start": "2026-01-01", "view": "year"}),
            422,
            "query.view",
        )
        assert_problem(
            await c.post(
                "/v1/calendar/entries",
                json={"kind": "key_date", "title": "x", "starts_at": "2026-04-01T00:00:00Z"},
            ),
            422,
            "day",
        )
        assert_problem(
            await c.post("/v1/calendar/entries", json={"kind": "publication", "title": "x"}),
            422,
            "starts_at",
        )
        assert_problem(
            await c.post(
                "/v1/calendar/entries",
                json={
                    "kind": "publication",
                    "title": "x",
                    "starts_at": "2026-04-01T10:00:00Z",
                    "ends_at": "2026-04-01T09:00:00Z",
                },
            ),
            422,
            "ends_at",
        )
        r = await c.post(
            "/v1/calendar/entries",
            json={"kind": "milestone", "title": "Kick-off", "starts_at": "2026-04-01T10:00:00Z"},
        )
        entry = r.json()
        url = f"/v1/calendar/entries/{entry['id']}"
        assert_problem(await c.patch(url, json={"title": "y"}), 428)
        r = await c.patch(url, json={"title": "Kick-off!"}, headers={"If-Match": '"1"'})
        assert r.status_code == 200 and r.json()["title"] == "Kick-off!"
        assert_problem(await c.patch(url, json={"title": "z"}, headers={"If-Match": '"1"'}), 412)
    async with planning.client("editor") as c:
        assert_problem(
            await c.post(
                "/v1/calendar/entries", json={"kind": "key_date", "title": "x", "day": "2026-04-01"}
            ),
            403,
        )
    async with planning.client("manager", workspace="ws-not-yours") as other:
        assert_problem(await other.get(url), 404)
        assert_problem(await other.delete(url), 404)


def _events(body: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["summary"]): e for e in cal.walk("VEVENT")}


async def test_ics_feeds_keep_wall_time_across_dst(planning: Planning) -> None:
    planning.clock.pinned = datetime(2026, 3, 20, tzinfo=UTC)  # the feed spans recent months
    async with planning.client("manager") as c:
        r = await c.put("/v1/workspace", json={"timezone": "Europe/Berlin", "name": "Berlin desk"})
        assert r.status_code == 200, r.text
        # 09:00 in Berlin before (CET, UTC+1) and after (CEST, UTC+2) the 29 March 2026 change.
        for title, instant in (
            ("before", "2026-03-27T08:00:00Z"),
            ("after", "2026-03-31T07:00:00Z"),
        ):
            r = await c.post(
                "/v1/calendar/entries",
                json={
                    "kind": "publication",
                    "title": title,
                    "starts_at": instant,
                    "channels": ["rss"],
                },
            )
            assert r.status_code == 201, r.text
        await c.post(
            "/v1/calendar/entries",
            json={
                "kind": "key_date",
                "title": "Easter",
                "day": "2026-04-05",
                "category": "holiday",
            },
        )
        authed = await c.get("/v1/calendar.ics")
        assert authed.status_code == 200, authed.text
        assert authed.headers["content-type"].startswith("text/calendar")
        feed_path = (await c.get("/v1/workspace")).json()["calendar_feed_path"]

    async with planning.anonymous() as anon:
        assert_problem(await anon.get("/v1/calendar.ics"), 401)
        link = await anon.get(feed_path)  # no token: the secret names the workspace
        assert link.status_code == 200, link.text
    for body in (authed.content, link.content):
        cal = icalendar.Calendar.from_ical(body)
        assert str(cal["x-wr-calname"]) == "Berlin desk"
        assert [str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
        events = _events(body)
        before, after = events["before"]["dtstart"], events["after"]["dtstart"]
        assert before.params["TZID"] == after.params["TZID"] == "Europe/Berlin"
        assert (before.dt.hour, before.dt.minute) == (after.dt.hour, after.dt.minute) == (9, 0)
        assert before.dt.utcoffset() == timedelta(hours=1)
        assert after.dt.utcoffset() == timedelta(hours=2)
        assert events["Easter"]["dtstart"].dt == date(2026, 4, 5)
        assert "Channels: rss" in str(events["before"]["description"])

    # Rotating the secret kills the old link at once; the new one works.
    async with planning.client("manager") as c:
        rotated = await c.put("/v1/workspace", json={"rotate_feed_secret": True})
        new_path = rotated.json()["calendar_feed_path"]
        assert new_path != feed_path
    async with planning.anonymous() as anon:
        assert_problem(await anon.get(feed_path), 404)
        assert (await anon.get(new_path)).status_code == 200
        assert_problem(await anon.get("/v1/calendar/feeds/not-a-real-secret-at-all-xx.ics"), 404)
    # Another workspace's feed does not carry these entries.
    async with planning.client("manager", workspace="ws-other-feed") as other:
        assert "before" not in _events((await other.get("/v1/calendar.ics")).content)
