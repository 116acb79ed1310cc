import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from services.metrics.domain.diagnosis import Cause, Diagnosis, Severity
from services.metrics.domain.errors import DomainError
from services.metrics.domain.goals import Goal, GoalStatus, progress
from services.metrics.domain.reports import (
    CompetitorFigure,
    ReportPost,
    RollupRow,
    build_report,
    custom_range,
    period_bounds,
    report_range,
    report_to_csv,
    report_to_html,
)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_week_in_shanghai_snaps_to_monday():
    # 2025-03-05 is a Wednesday; the week is Mon 3 March 00:00 +08:00 = 2 March 16:00 UTC
    assert period_bounds("week", date(2025, 3, 5), "Asia/Shanghai") == (
        utc(2025, 3, 2, 16),
        utc(2025, 3, 9, 16),
        utc(2025, 2, 23, 16),
        utc(2025, 3, 2, 16),
    )
    assert period_bounds("week", date(2025, 3, 3), "Asia/Shanghai") == period_bounds(
        "week", date(2025, 3, 9), "Asia/Shanghai"
    )


def test_month_in_shanghai_and_across_a_year():
    assert period_bounds("month", date(2025, 3, 15), "Asia/Shanghai") == (
        utc(2025, 2, 28, 16),
        utc(2025, 3, 31, 16),
        utc(2025, 1, 31, 16),
        utc(2025, 2, 28, 16),
    )
    january = report_range("month", date(2025, 1, 31), "Asia/Shanghai")
    assert january.bounds.prev_start == utc(2024, 11, 30, 16)
    assert (january.first_day, january.last_day) == (date(2025, 1, 1), date(2025, 1, 31))


def test_week_across_the_spring_dst_change_is_167_hours():
    bounds = period_bounds("week", date(2025, 3, 30), "Europe/Berlin")
    assert bounds.start == utc(2025, 3, 23, 23)  # Monday 00:00 CET (+01:00)
    assert bounds.end == utc(2025, 3, 30, 22)  # next Monday 00:00 CEST (+02:00)
    assert bounds.end - bounds.start == timedelta(hours=167)


def test_month_across_the_autumn_dst_change():
    bounds = period_bounds("month", date(2025, 11, 20), "America/New_York")
    assert bounds.start == utc(2025, 11, 1, 4)  # EDT
    assert bounds.end == utc(2025, 12, 1, 5)  # EST
    assert bounds.prev_start == utc(2025, 10, 1, 4)


def test_a_day_whose_midnight_does_not_exist_starts_at_its_first_instant():
    # Chile moved clocks from 00:00 to 01:00 on 2024-09-08
    window = custom_range(date(2024, 9, 8), date(2024, 9, 8), "America/Santiago")
    assert window.bounds.start == utc(2024, 9, 8, 4)
    assert window.bounds.end - window.bounds.start == timedelta(hours=23)


def test_bad_periods_are_domain_errors():
    with pytest.raises(DomainError) as error:
        period_bounds("fortnight", date(2025, 3, 5), "UTC")
    assert error.value.field == "period"
    with pytest.raises(DomainError) as error:
        custom_range(date(2024, 1, 1), date(2025, 1, 1), "UTC")  # 367 days
    assert error.value.field == "end"
    assert len(custom_range(date(2024, 1, 1), date(2024, 12, 31), "UTC").days) == 366
    with pytest.raises(DomainError):
        period_bounds("week", date(2025, 3, 5), "Nowhere/City")


WEEK = report_range("week", date(2025, 3, 3), "Asia/Shanghai")
D = date(2025, 3, 3)
PREV = date(2025, 2, 24)


def row(day, metric, value, channel="weibo", fmt="article", account="acct-1", campaign=None):
    return RollupRow(day, metric, value, channel, fmt, None, campaign, account)


CURRENT = [
    row(D, "likes", 30),
    row(D + timedelta(days=1), "likes", 20),
    row(D, "impressions", 1000),
    row(D, "likes", 50, channel="wechat_mp", account="acct-2"),
    row(D, "reads", 500, channel="wechat_mp", account="acct-2"),
    row(D, "followers", 900),
    row(D + timedelta(days=2), "followers", 950),
    row(D, "followers", 400, channel="wechat_mp", account="acct-2"),
    row(D, "clicks", 0),
]
PREVIOUS = [row(PREV, "likes", 40), row(PREV, "impressions", 800), row(PREV, "followers", 800)]


def make_report(**kwargs):
    return build_report(WEEK, CURRENT, PREVIOUS, **kwargs)


def test_totals_and_change_vs_previous_period():
    totals = make_report()["totals"]
    assert totals["likes"] == {"current": 100, "previous": 40, "change": 60, "change_pct": 150}
    # gauges: the last level per account, summed
    assert totals["followers"]["current"] == 950 + 400
    assert totals["followers"]["change_pct"] == pytest.approx((1350 - 800) / 800 * 100)
    # previous was zero / absent: change known, percentage not
    assert totals["reads"] == {"current": 500, "previous": 0, "change": 500, "change_pct": None}
    assert totals["engagements"]["current"] == 100
    assert totals["engagement_rate"]["current"] == pytest.approx(100 / 1000)
    assert totals["ctr"]["current"] == 0


def test_breakdowns_and_daily_series():
    report = make_report(dimensions=("channel", "account"))
    channels = report["breakdowns"]["channel"]
    # 50 engagements each: ties are broken by name
    assert [c["key"] for c in channels] == ["wechat_mp", "weibo"]
    assert channels[1]["metrics"]["likes"]["current"] == 50
    assert channels[0]["metrics"]["likes"]["change_pct"] is None
    by_impressions = make_report(dimensions=("channel",), primary_metric="impressions")
    assert [c["key"] for c in by_impressions["breakdowns"]["channel"]] == ["weibo", "wechat_mp"]
    assert set(report["breakdowns"]) == {"channel", "account"}
    assert [d["day"] for d in report["daily"]][:2] == ["2025-03-03", "2025-03-04"]
    assert len(report["daily"]) == 7
    assert report["daily"][1]["likes"] == 20 and "likes" not in report["daily"][3]
    with pytest.raises(DomainError):
        make_report(dimensions=("colour",))


def post(pid, likes, title=None, diagnoses=()):
    return ReportPost(
        pid,
        title or f"Post {pid}",
        "weibo",
        "article",
        utc(2025, 3, 3, 2),
        {"likes": likes},
        diagnoses,
    )


LOW_CTR = Diagnosis(
    Cause.TITLE_OR_COVER, "ctr", 0.01, 0.03, 1 / 3, 8, "Try a sharper title.", Severity.HIGH
)


def test_top_and_bottom_posts_do_not_overlap():
    posts = [post("a", 5), post("b", 50), post("c", 20, diagnoses=[LOW_CTR])]
    report = make_report(posts=posts, top_n=2)
    assert [p["publication_id"] for p in report["top_posts"]] == ["b", "c"]
    assert [p["publication_id"] for p in report["bottom_posts"]] == ["a"]
    assert report["top_posts"][1]["diagnoses"][0]["cause"] == "title_or_cover"
    assert report["top_posts"][0]["primary_value"] == 50


def test_goals_and_competitors_in_the_report():
    goal = Goal(
        "g1", "followers", 2000, WEEK.bounds.start, WEEK.bounds.end, baseline=1000, name="Grow"
    )
    status = GoalStatus(goal, progress(goal, 1350, WEEK.bounds.end))
    competitor = CompetitorFigure("Rival", "weibo", "likes", 300, 200)
    report = make_report(goals=[status], competitors=[competitor])
    assert report["goals"][0]["ratio"] == pytest.approx(0.35)
    assert report["goals"][0]["on_track"] is False
    rival = report["competitors"][0]
    assert rival["change_pct"] == 50
    assert rival["own_current"] == 50 and rival["own_change_pct"] == pytest.approx(25)


def sections(text):
    found, name = {}, None
    for record in csv.reader(io.StringIO(text)):
        if record and record[0].startswith("# "):
            name = record[0][2:]
            found[name] = []
        elif record:
            found[name].append(record)
    return found


def test_csv_has_one_section_per_table_and_defuses_formulas():
    report = make_report(posts=[post("a", 5, title='=HYPERLINK("http://x")')])
    parsed = sections(report_to_csv(report))
    assert {"period", "totals", "by_channel", "daily", "top_posts", "goals"} <= set(parsed)
    assert parsed["totals"][0] == ["metric", "current", "previous", "change", "change_pct"]
    likes = next(r for r in parsed["totals"] if r[0] == "likes")
    assert likes == ["likes", "100.0", "40.0", "60.0", "150.0"]
    reads = next(r for r in parsed["totals"] if r[0] == "reads")
    assert reads[4] == ""  # no percentage against a zero
    assert parsed["top_posts"][1][1].startswith("'=HYPERLINK")


def test_html_is_self_contained_escaped_and_has_charts():
    hostile = "<script>alert(1)</script>"
    report = make_report(posts=[post("a", 5, title=hostile, diagnoses=[LOW_CTR])])
    page = report_to_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<svg") == 2  # bars per channel, daily line
    assert "<polyline" in page and "<rect" in page
    assert "<style>" in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "title or cover" in page
    assert "+150.0%" in page
