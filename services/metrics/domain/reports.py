"""Periodic reports: period bounds in the workspace zone, the report body, CSV and HTML.

Decision on week starts: a week runs Monday 00:00 to the next Monday 00:00 in the workspace
zone, and any requested start date is *snapped* to the Monday of its week (a month to the 1st
of its month), so "start=today" is always a valid request. Custom ranges are capped at a year.

Input rows are daily rollups: for counters the day's increase, for gauges (followers) the
level at the day's end. Ratios are recomputed from summed parts, never averaged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.metrics.domain.diagnosis import Diagnosis
from services.metrics.domain.dictionary import METRICS, MetricKind, with_derived
from services.metrics.domain.errors import DomainError
from services.metrics.domain.goals import GoalStatus, status_payload

MAX_RANGE_DAYS = 366
DIMENSIONS = ("channel", "format", "pillar", "campaign", "account")


class PeriodBounds(NamedTuple):
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    prev_start: datetime
    prev_end: datetime


@dataclass(frozen=True)
class ReportRange:
    kind: str  # "week", "month" or "custom"
    first_day: date  # local, inclusive
    last_day: date  # local, inclusive
    timezone: str
    bounds: PeriodBounds

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(count)]


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DomainError("timezone", f"unknown time zone {tz!r}") from error


def _local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    # A zone whose DST starts at midnight has no 00:00 that day; zoneinfo then takes the
    # offset before the jump, which is still the instant the day begins.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _month_start(day: date, months_ahead: int) -> date:
    index = day.year * 12 + day.month - 1 + months_ahead
    return date(index // 12, index % 12 + 1, 1)


def report_range(period: str, start_date: date, tz: str) -> ReportRange:
    """The week or month containing `start_date` in zone `tz`, and the one before it."""
    zone = _zone(tz)
    if period == "week":
        first = start_date - timedelta(days=start_date.weekday())
        after = first + timedelta(days=7)
        prev_first = first - timedelta(days=7)
    elif period == "month":
        first = _month_start(start_date, 0)
        after = _month_start(start_date, 1)
        prev_first = _month_start(start_date, -1)
    else:
        raise DomainError("period", f"period must be 'week' or 'month', not {period!r}")
    bounds = PeriodBounds(
        _local_midnight_utc(first, zone),
        _local_midnight_utc(after, zone),
        _local_midnight_utc(prev_first, zone),
        _local_midnight_utc(first, zone),
    )
    return ReportRange(period, first, after - timedelta(days=1), tz, bounds)


def period_bounds(period: str, start_date: date, tz: str) -> PeriodBounds:
    """(start_utc, end_utc, prev_start_utc, prev_end_utc) of a week or month in zone `tz`."""
    return report_range(period, start_date, tz).bounds


def custom_range(first_day: date, last_day: date, tz: str) -> ReportRange:
    """Days first..last inclusive (at most a year); the previous period has the same length."""
    if last_day < first_day:
        raise DomainError("end", "end must not be before start")
    length = (last_day - first_day).days + 1
    if length > MAX_RANGE_DAYS:
        raise DomainError("end", f"a report covers at most {MAX_RANGE_DAYS} days")
    zone = _zone(tz)
    after = last_day + timedelta(days=1)
    bounds = PeriodBounds(
        _local_midnight_utc(first_day, zone),
        _local_midnight_utc(after, zone),
        _local_midnight_utc(first_day - timedelta(days=length), zone),
        _local_midnight_utc(first_day, zone),
    )
    return ReportRange("custom", first_day, last_day, tz, bounds)


# --- report body --------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupRow:
    day: date  # local day in the workspace zone
    metric: str
    value: float
    channel: str | None = None
    format: str | None = None
    pillar: str | None = None
    campaign: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class ReportPost:
    publication_id: str
    title: str
    channel: str
    format: str | None
    published_at: datetime
    values: Mapping[str, float]  # cumulative at the report's end
    diagnoses: Sequence[Diagnosis] = field(default_factory=tuple)


@dataclass(frozen=True)
class CompetitorFigure:
    competitor: str
    channel: str
    metric: str
    current: float
    previous: float | None = None


def _series_key(row: RollupRow) -> tuple[str | None, ...]:
    return (row.channel, row.account, row.campaign, row.format, row.pillar)


def totals(rows: Iterable[RollupRow]) -> dict[str, float]:
    """Counters summed, gauges the last level per series summed, derived ratios recomputed.

    Stored ratio rows (completion_rate) need per-post weights and are not totalled.
    """
    sums: dict[str, float] = {}
    last_level: dict[tuple[str, tuple[str | None, ...]], tuple[date, float]] = {}
    for row in rows:
        definition = METRICS.get(row.metric)
        if definition is None or definition.derived:
            continue
        if definition.kind is MetricKind.COUNTER:
            sums[row.metric] = sums.get(row.metric, 0.0) + row.value
        elif definition.kind is MetricKind.GAUGE:
            key = (row.metric, _series_key(row))
            if key not in last_level or last_level[key][0] <= row.day:
                last_level[key] = (row.day, row.value)
    for (metric, _), (_, value) in last_level.items():
        sums[metric] = sums.get(metric, 0.0) + value
    return with_derived(sums)


def _change(current: float | None, previous: float | None) -> dict[str, float | None]:
    change = current - previous if current is not None and previous is not None else None
    pct = change / previous * 100 if change is not None and previous else None
    return {"current": current, "previous": previous, "change": change, "change_pct": pct}


def _compare(current: Mapping[str, float], previous: Mapping[str, float]) -> dict[str, Any]:
    out = {}
    for metric in _ordered_metrics(set(current) | set(previous)):
        counter = METRICS[metric].kind is MetricKind.COUNTER
        default = 0.0 if counter else None  # no rows: nothing happened vs nothing known
        out[metric] = _change(current.get(metric, default), previous.get(metric, default))
    return out


def _ordered_metrics(names: Iterable[str]) -> list[str]:
    order = list(METRICS)
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


@dataclass(frozen=True)
class Aggregates:
    """One period's figures as the report needs them: metric -> value (derived included) for
    the whole period, per dimension value and per local day.

    `aggregate_rows` computes them from rollup rows; a database can compute the same sums
    (counters summed, gauges' last level per series summed) and skip sending every row.
    """

    totals: Mapping[str, float]
    by: Mapping[str, Mapping[str | None, Mapping[str, float]]]
    daily: Mapping[date, Mapping[str, float]] = field(default_factory=dict)


def aggregate_rows(
    rows: Sequence[RollupRow], dimensions: Sequence[str] = DIMENSIONS, daily: bool = True
) -> Aggregates:
    def group(key: Any) -> dict[Any, list[RollupRow]]:
        grouped: dict[Any, list[RollupRow]] = {}
        for row in rows:
            grouped.setdefault(key(row), []).append(row)
        return grouped

    by = {
        d: {k: totals(g) for k, g in group(lambda r, d=d: getattr(r, d)).items()}
        for d in {*dimensions, "channel"}
    }
    days = {k: totals(g) for k, g in group(lambda r: r.day).items()} if daily else {}
    return Aggregates(totals(rows), by, days)


def _breakdown(
    now_groups: Mapping[str | None, Mapping[str, float]],
    prev_groups: Mapping[str | None, Mapping[str, float]],
    primary_metric: str,
) -> list[dict[str, Any]]:
    entries = []
    for key in set(now_groups) | set(prev_groups):
        metrics = _compare(now_groups.get(key, {}), prev_groups.get(key, {}))
        entries.append({"key": key, "metrics": metrics})

    def rank(entry: dict[str, Any]) -> tuple[float, str]:
        value = entry["metrics"].get(primary_metric, {}).get("current") or 0.0
        return (-value, str(entry["key"]))

    return sorted(entries, key=rank)


def _post_dict(post: ReportPost, primary_metric: str) -> dict[str, Any]:
    values = with_derived(post.values)
    return {
        "publication_id": post.publication_id,
        "title": post.title,
        "channel": post.channel,
        "format": post.format,
        "published_at": post.published_at.isoformat(),
        "primary_value": values.get(primary_metric),
        "values": values,
        "diagnoses": [d.as_dict() for d in post.diagnoses],
    }


def build_report(
    window: ReportRange,
    current: Sequence[RollupRow],
    previous: Sequence[RollupRow],
    dimensions: Sequence[str] = DIMENSIONS,
    posts: Sequence[ReportPost] = (),
    goals: Sequence[GoalStatus] = (),
    competitors: Sequence[CompetitorFigure] = (),
    primary_metric: str = "engagements",
    top_n: int = 5,
) -> dict[str, Any]:
    """The report as plain JSON-ready data.

    totals and breakdowns carry current, previous, change and change_pct (None when the
    previous value is 0 or unknown); posts are ranked by `primary_metric`, bottom posts
    never repeat a top post.
    """
    _check_dimensions(dimensions)
    return assemble_report(
        window,
        aggregate_rows(current, dimensions),
        aggregate_rows(previous, dimensions, daily=False),
        dimensions,
        posts,
        goals,
        competitors,
        primary_metric,
        top_n,
    )


def _check_dimensions(dimensions: Sequence[str]) -> None:
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        raise DomainError("dimensions", f"unknown dimension {unknown[0]!r}; use {DIMENSIONS}")


def assemble_report(
    window: ReportRange,
    current: Aggregates,
    previous: Aggregates,
    dimensions: Sequence[str] = DIMENSIONS,
    posts: Sequence[ReportPost] = (),
    goals: Sequence[GoalStatus] = (),
    competitors: Sequence[CompetitorFigure] = (),
    primary_metric: str = "engagements",
    top_n: int = 5,
) -> dict[str, Any]:
    """The report from pre-aggregated figures (see `Aggregates`); `build_report` for rows."""
    _check_dimensions(dimensions)
    if primary_metric not in METRICS:
        raise DomainError("primary_metric", f"unknown metric {primary_metric!r}")
    bounds = window.bounds

    daily = [{"day": day.isoformat(), **current.daily.get(day, {})} for day in window.days]

    ranked = sorted(
        posts,
        key=lambda p: (-(with_derived(p.values).get(primary_metric) or 0.0), p.publication_id),
    )
    top = ranked[:top_n]
    top_ids = {p.publication_id for p in top}
    bottom = [p for p in reversed(ranked) if p.publication_id not in top_ids][:top_n]

    own_by_channel = {
        entry["key"]: entry["metrics"]
        for entry in _breakdown(current.by["channel"], previous.by["channel"], "")
    }
    competitor_rows = []
    for figure in competitors:
        own = own_by_channel.get(figure.channel, {}).get(figure.metric, {})
        competitor_rows.append(
            {
                "competitor": figure.competitor,
                "channel": figure.channel,
                "metric": figure.metric,
                **_change(figure.current, figure.previous),
                "own_current": own.get("current"),
                "own_change_pct": own.get("change_pct"),
            }
        )

    return {
        "period": {
            "kind": window.kind,
            "timezone": window.timezone,
            "first_day": window.first_day.isoformat(),
            "last_day": window.last_day.isoformat(),
            "start": bounds.start.isoformat(),
            "end": bounds.end.isoformat(),
            "previous_start": bounds.prev_start.isoformat(),
            "previous_end": bounds.prev_end.isoformat(),
        },
        "primary_metric": primary_metric,
        "totals": _compare(current.totals, previous.totals),
        "daily": daily,
        "breakdowns": {
            d: _breakdown(current.by.get(d, {}), previous.by.get(d, {}), primary_metric)
            for d in dimensions
        },
        "top_posts": [_post_dict(p, primary_metric) for p in top],
        "bottom_posts": [_post_dict(p, primary_metric) for p in bottom],
        "goals": [
            {**status_payload(s), "name": s.goal.name, "period_end": s.goal.period_end.isoformat()}
            for s in goals
        ],
        "competitors": competitor_rows,
    }


# --- CSV ----------------------------------------------------------------------------------

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """Neutralise text a spreadsheet would run as a formula (user titles, names)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def report_to_csv(report: Mapping[str, Any]) -> str:
    """One section per table, each headed by a `# name` row and separated by a blank row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def section(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        writer.writerow([f"# {name}"])
        writer.writerow(header)
        writer.writerows([_cell(v) for v in row] for row in rows)
        writer.writerow([])

    period = report["period"]
    section(
        "period",
        ["kind", "timezone", "first_day", "last_day"],
        [[period["kind"], period["timezone"], period["first_day"], period["last_day"]]],
    )
    change_header = ["current", "previous", "change", "change_pct"]
    section(
        "totals",
        ["metric", *change_header],
        ([m, *(c[k] for k in change_header)] for m, c in report["totals"].items()),
    )
    for dimension, entries in report["breakdowns"].items():
        section(
            f"by_{dimension}",
            [dimension, "metric", *change_header],
            (
                [entry["key"], m, *(c[k] for k in change_header)]
                for entry in entries
                for m, c in entry["metrics"].items()
            ),
        )
    daily_metrics = _ordered_metrics({k for d in report["daily"] for k in d if k != "day"})
    section(
        "daily",
        ["day", *daily_metrics],
        ([d["day"], *(d.get(m) for m in daily_metrics)] for d in report["daily"]),
    )
    for name in ("top_posts", "bottom_posts"):
        section(
            name,
            ["publication_id", "title", "channel", "format", "published_at",
             report["primary_metric"], "diagnosis"],
            (
                [p["publication_id"], p["title"], p["channel"], p["format"], p["published_at"],
                 p["primary_value"], "; ".join(d["cause"] for d in p["diagnoses"])]
                for p in report[name]
            ),
        )  # fmt: skip
    section(
        "goals",
        ["goal_id", "name", "metric", "current", "expected", "target", "ratio", "on_track"],
        (
            [g["goal_id"], g["name"], g["metric"], g["current"], g["expected"], g["target"],
             g["ratio"], g["on_track"]]
            for g in report["goals"]
        ),
    )  # fmt: skip
    section(
        "competitors",
        ["competitor", "channel", "metric", *change_header, "own_current", "own_change_pct"],
        (
            [c["competitor"], c["channel"], c["metric"], *(c[k] for k in change_header),
             c["own_current"], c["own_change_pct"]]
            for c in report["competitors"]
        ),
    )  # fmt: skip
    return buffer.getvalue()


# --- HTML ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:960px;
color:#1f2933;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #d9e2ec;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e4e7eb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#147d64}.down{color:#c81e1e}.muted{color:#7b8794}
.chart{margin:.5rem 0}ul.diag{margin:0;padding-left:1.1rem;font-size:.85rem}
"""


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if float(value).is_integer():
            return f"{int(value):,}"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"
    return escape(str(value))


def _pct(value: float | None) -> str:
    if value is None:
        return '<span class="muted">–</span>'
    css = "up" if value > 0 else "down" if value < 0 else "muted"
    return f'<span class="{css}">{value:+.1f}%</span>'


def bar_chart_svg(items: Sequence[tuple[str, float]], title: str, width: int = 640) -> str:
    """Horizontal bars, one per label; labels escaped."""
    bar_height, gap, label_width = 22, 8, 150
    height = max(1, len(items)) * (bar_height + gap) + 30
    peak = max((v for _, v in items), default=0.0) or 1.0
    usable = width - label_width - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        y = 28 + i * (bar_height + gap)
        length = max(0.0, value) / peak * usable
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="#3e7bfa" rx="3"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}" font-size="12">'
            f"{_fmt(float(value))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(
    points: Sequence[tuple[str, float]], title: str, width: int = 640, height: int = 220
) -> str:
    """A line over the days with min/max gridlines and first/last day labels."""
    left, right, top, bottom = 56, 16, 28, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, v in points]
    low, high = min(values, default=0.0), max(values, default=0.0)
    low = min(low, 0.0)
    span = (high - low) or 1.0
    step = plot_w / (len(points) - 1) if len(points) > 1 else 0.0

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + plot_h - (v - low) / span * plot_h

    coords = [xy(i, v) for i, (_, v) in enumerate(points)]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="0" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    for value in (low, high):
        _, y = xy(0, value)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d9e2ec"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{_fmt(float(value))}</text>'
        )
    if coords:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#3e7bfa" stroke-width="2"/>')
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#3e7bfa"/>' for x, y in coords
        )
        for index, anchor in ((0, "start"), (len(points) - 1, "end")):
            parts.append(
                f'<text x="{coords[index][0]:.1f}" y="{height - 8}" font-size="11" '
                f'text-anchor="{anchor}">{escape(points[index][0])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _change_table(first_header: str, rows: Iterable[tuple[object, Mapping[str, Any]]]) -> str:
    body = "".join(
        f"<tr><td>{_fmt(label)}</td><td class='num'>{_fmt(c['current'])}</td>"
        f"<td class='num'>{_fmt(c['previous'])}</td><td class='num'>{_pct(c['change_pct'])}</td>"
        "</tr>"
        for label, c in rows
    )
    return (
        f"<table><tr><th>{escape(first_header)}</th><th class='num'>this period</th>"
        f"<th class='num'>previous</th><th class='num'>change</th></tr>{body}</table>"
    )


def _posts_table(posts: Sequence[Mapping[str, Any]], primary: str) -> str:
    if not posts:
        return "<p class='muted'>No posts in this period.</p>"
    rows = []
    for post in posts:
        diagnoses = "".join(
            f"<li><b>{escape(d['cause'].replace('_', ' '))}</b> ({escape(d['metric'])}"
            + (f", {d['ratio']:.0%} of median" if d["ratio"] is not None else "")
            + f"): {escape(d['suggestion'])}</li>"
            for d in post["diagnoses"]
        )
        rows.append(
            f"<tr><td>{escape(post['title'])}</td><td>{escape(post['channel'])}</td>"
            f"<td>{_fmt(post['format'])}</td><td class='num'>{_fmt(post['primary_value'])}</td>"
            f"<td>{f'<ul class=diag>{diagnoses}</ul>' if diagnoses else ''}</td></tr>"
        )
    return (
        "<table><tr><th>title</th><th>channel</th><th>format</th>"
        f"<th class='num'>{escape(primary)}</th><th>diagnosis</th></tr>{''.join(rows)}</table>"
    )


def report_to_html(report: Mapping[str, Any]) -> str:
    """A self-contained page (inline CSS, inline SVG, no scripts); every text escaped."""
    period = report["period"]
    primary = report["primary_metric"]
    sections = [
        f"<h1>{escape(period['kind'].capitalize())} report</h1>",
        f"<p class='muted'>{escape(period['first_day'])} to {escape(period['last_day'])} "
        f"({escape(period['timezone'])}), compared with the previous period.</p>",
        "<h2>Totals</h2>",
        _change_table("metric", report["totals"].items()),
    ]
    channels = report["breakdowns"].get("channel", [])
    if channels:
        bars = [
            (str(e["key"] or "(none)"), e["metrics"].get(primary, {}).get("current") or 0.0)
            for e in channels
        ]
        sections += [
            "<h2>By channel</h2>",
            f"<div class='chart'>{bar_chart_svg(bars, f'{primary} by channel')}</div>",
        ]
    daily = [(d["day"], float(d.get(primary) or 0.0)) for d in report["daily"]]
    if daily:
        sections += [
            "<h2>Day by day</h2>",
            f"<div class='chart'>{line_chart_svg(daily, f'{primary} per day')}</div>",
        ]
    for dimension, entries in report["breakdowns"].items():
        rows = [(e["key"] or "(none)", e["metrics"][primary]) for e in entries
                if primary in e["metrics"]]  # fmt: skip
        if rows:
            sections += [f"<h2>{escape(primary)} by {escape(dimension)}</h2>",
                         _change_table(dimension, rows)]  # fmt: skip
    sections += [
        "<h2>Top posts</h2>",
        _posts_table(report["top_posts"], primary),
        "<h2>Bottom posts</h2>",
        _posts_table(report["bottom_posts"], primary),
    ]
    if report["goals"]:
        rows = "".join(
            f"<tr><td>{escape(g['name'] or g['goal_id'])}</td><td>{escape(g['metric'])}</td>"
            f"<td class='num'>{_fmt(g['current'])}</td><td class='num'>{_fmt(g['target'])}</td>"
            f"<td class='num'>{g['ratio']:.0%}</td>"
            f"<td class='{'up' if g['on_track'] else 'down'}'>"
            f"{'on track' if g['on_track'] else 'behind'}</td></tr>"
            for g in report["goals"]
        )
        sections += [
            "<h2>Goals</h2><table><tr><th>goal</th><th>metric</th><th class='num'>current</th>"
            f"<th class='num'>target</th><th class='num'>progress</th><th>pace</th></tr>"
            f"{rows}</table>"
        ]
    if report["competitors"]:
        rows = "".join(
            f"<tr><td>{escape(c['competitor'])}</td><td>{escape(c['channel'])}</td>"
            f"<td>{escape(c['metric'])}</td><td class='num'>{_fmt(c['current'])}</td>"
            f"<td class='num'>{_pct(c['change_pct'])}</td>"
            f"<td class='num'>{_fmt(c['own_current'])}</td>"
            f"<td class='num'>{_pct(c['own_change_pct'])}</td></tr>"
            for c in report["competitors"]
        )
        sections += [
            "<h2>Competitors</h2><table><tr><th>competitor</th><th>channel</th><th>metric</th>"
            "<th class='num'>theirs</th><th class='num'>change</th><th class='num'>ours</th>"
            f"<th class='num'>change</th></tr>{rows}</table>"
        ]
    title = f"{period['kind'].capitalize()} report {period['first_day']}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )
