from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from services.planning.domain.calendar import (
    Blackout,
    CalendarEntry,
    ConflictKind,
    EntryKind,
    MemberCapacity,
    build_ics,
    detect_conflicts,
    entries_in_range,
    month_view,
    range_view,
    validate_range,
    week_view,
)
from services.planning.domain.errors import DomainError

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def _post(entry_id, starts_at, **kw):
    return CalendarEntry(entry_id, EntryKind.PUBLICATION, f"Post {entry_id}", starts_at, **kw)


def _utc(*args):
    return datetime(*args, tzinfo=UTC)


# --- entries and ranges


def test_entry_is_timed_or_all_day_not_both():
    with pytest.raises(DomainError):
        CalendarEntry("x", EntryKind.KEY_DATE, "Both", _utc(2025, 1, 1), day=date(2025, 1, 1))
    with pytest.raises(DomainError):
        CalendarEntry("x", EntryKind.KEY_DATE, "Neither")
    with pytest.raises(DomainError) as err:
        _post("x", datetime(2025, 1, 1, 9))
    assert err.value.field == "starts_at"
    with pytest.raises(DomainError) as err:
        _post("x", _utc(2025, 1, 2), ends_at=_utc(2025, 1, 1))
    assert err.value.field == "ends_at"


def test_validate_range_accepts_up_to_366_days():
    validate_range(date(2024, 1, 1), date(2025, 1, 1))  # 366 days, a leap year
    validate_range(_utc(2025, 1, 1), _utc(2025, 1, 1) + timedelta(days=366))


def test_validate_range_refuses_more_than_a_year():
    with pytest.raises(DomainError) as err:
        validate_range(date(2025, 1, 1), date(2026, 1, 3))
    assert err.value.field == "end"
    assert "366" in err.value.message


def test_validate_range_refuses_end_before_start():
    with pytest.raises(DomainError, match="after start"):
        validate_range(date(2025, 2, 1), date(2025, 1, 1))
    with pytest.raises(DomainError):
        validate_range(_utc(2025, 2, 1), _utc(2025, 2, 1))


# --- views


def test_week_view_groups_by_local_day_in_the_workspace_zone():
    # 16:30 UTC on Sunday June 1 is 00:30 on Monday June 2 in Shanghai.
    late = _post("late", _utc(2025, 6, 1, 16, 30))
    noon = _post("noon", _utc(2025, 6, 4, 4))
    holiday = CalendarEntry(
        "dragon",
        EntryKind.KEY_DATE,
        "Dragon Boat",
        day=date(2025, 5, 31),
        last_day=date(2025, 6, 2),
    )
    view = week_view([noon, late, holiday], SHANGHAI, date(2025, 6, 5))
    assert view.first_day == date(2025, 6, 2) and view.last_day == date(2025, 6, 8)
    assert len(view.days) == 7
    by_day = {d.day: [e.id for e in d.entries] for d in view.days}
    # all-day entries first, then by time
    assert by_day[date(2025, 6, 2)] == ["dragon", "late"]
    assert by_day[date(2025, 6, 4)] == ["noon"]
    assert by_day[date(2025, 6, 3)] == []
    utc_view = week_view([late], ZoneInfo("UTC"), date(2025, 6, 5))
    assert all(not d.entries for d in utc_view.days)


def test_month_view_covers_every_local_day():
    view = month_view([_post("a", _utc(2024, 2, 29, 1))], SHANGHAI, 2024, 2)
    assert (view.first_day, view.last_day, len(view.days)) == (
        date(2024, 2, 1),
        date(2024, 2, 29),
        29,
    )
    assert [e.id for e in view.days[-1].entries] == ["a"]
    assert month_view([], SHANGHAI, 2025, 12).last_day == date(2025, 12, 31)
    with pytest.raises(DomainError):
        month_view([], SHANGHAI, 2025, 13)


def test_multi_day_event_appears_on_each_day_but_not_past_midnight_end():
    shoot = _post(
        "shoot",
        datetime(2025, 6, 2, 20, tzinfo=SHANGHAI),
        ends_at=datetime(2025, 6, 4, 0, tzinfo=SHANGHAI),
    )
    view = range_view([shoot], SHANGHAI, date(2025, 6, 1), date(2025, 6, 5))
    assert [d.day.day for d in view.days if d.entries] == [2, 3]


def test_entries_in_range():
    inside = _post("in", _utc(2025, 6, 2, 10))
    at_end = _post("end", _utc(2025, 6, 3))
    overlapping = _post("over", _utc(2025, 6, 1, 23), ends_at=_utc(2025, 6, 2, 1))
    found = entries_in_range(
        [at_end, inside, overlapping], ZoneInfo("UTC"), _utc(2025, 6, 2), _utc(2025, 6, 3)
    )
    assert [e.id for e in found] == ["over", "in"]


# --- conflicts


def test_same_account_within_the_window_conflicts():
    a = _post("a", _utc(2025, 6, 2, 12), account_ids=("weibo-main",))
    b = _post("b", _utc(2025, 6, 2, 12, 20), account_ids=("weibo-main",))
    c = _post("c", _utc(2025, 6, 2, 12, 50), account_ids=("weibo-main",))  # 30 min after b
    other = _post("d", _utc(2025, 6, 2, 12, 5), account_ids=("wechat",))
    conflicts = detect_conflicts([c, other, b, a], [], [], SHANGHAI)
    assert [(x.kind, x.entry_ids) for x in conflicts] == [(ConflictKind.SAME_SLOT, ["a", "b"])]
    assert conflicts[0].message == (
        "account weibo-main has 'Post a' at 2025-06-02 20:00 and 'Post b' 20 min later "
        "(less than 30 min apart)"
    )


def test_slot_window_is_configurable():
    a = _post("a", _utc(2025, 6, 2, 12), account_ids=("x",))
    b = _post("b", _utc(2025, 6, 2, 13), account_ids=("x",))
    assert detect_conflicts([a, b], [], []) == []
    wide = detect_conflicts([a, b], [], [], slot_window=timedelta(hours=2))
    assert [x.entry_ids for x in wide] == [["a", "b"]]


def test_member_over_weekly_capacity_in_the_local_week():
    ana = MemberCapacity("ana", "Ana", capacity_per_week=2)
    week = [_post(f"p{i}", _utc(2025, 6, 2 + i, 2), assignee_ids=("ana",)) for i in range(3)]
    # Sunday 2025-06-08 17:00 UTC is Monday June 9 in Shanghai: next week there.
    sunday = _post("sun", _utc(2025, 6, 8, 17), assignee_ids=("ana",))
    conflicts = detect_conflicts([*week, sunday], [ana], [], SHANGHAI)
    assert len(conflicts) == 1
    assert conflicts[0].kind is ConflictKind.MEMBER_OVER_CAPACITY
    assert conflicts[0].entry_ids == ["p0", "p1", "p2"]
    assert conflicts[0].message == (
        "Ana has 3 planned in the week of 2025-06-02, over a weekly capacity of 2"
    )
    in_utc = detect_conflicts([*week, sunday], [ana], [], ZoneInfo("UTC"))
    assert in_utc[0].entry_ids == ["p0", "p1", "p2", "sun"]


def test_member_within_capacity_has_no_conflict():
    ana = MemberCapacity("ana", "Ana", capacity_per_week=2)
    week = [_post(f"p{i}", _utc(2025, 6, 2 + i, 2), assignee_ids=("ana",)) for i in range(2)]
    assert detect_conflicts(week, [ana], [], SHANGHAI) == []


def test_blackout_uses_the_local_date():
    blackout = Blackout("b1", date(2025, 6, 4), date(2025, 6, 4), reason="national mourning")
    # 2025-06-03 17:00 UTC is 01:00 on June 4 in Shanghai.
    post = _post("p", _utc(2025, 6, 3, 17), account_ids=("weibo",))
    conflicts = detect_conflicts([post], [], [blackout], SHANGHAI)
    assert [(x.kind, x.entry_ids) for x in conflicts] == [(ConflictKind.BLACKOUT, ["p"])]
    assert conflicts[0].message == (
        "'Post p' falls on 2025-06-04, a blackout date (national mourning)"
    )
    assert detect_conflicts([post], [], [blackout], ZoneInfo("UTC")) == []


def test_blackout_limited_to_some_accounts_and_not_for_key_dates():
    blackout = Blackout("b1", date(2025, 6, 4), date(2025, 6, 6), account_ids=("weibo",))
    on_wechat = _post("w", _utc(2025, 6, 5, 2), account_ids=("wechat",))
    on_weibo = _post("x", _utc(2025, 6, 5, 2), account_ids=("weibo",))
    key_date = CalendarEntry("k", EntryKind.KEY_DATE, "Holiday", day=date(2025, 6, 5))
    conflicts = detect_conflicts([on_wechat, on_weibo, key_date], [], [blackout], SHANGHAI)
    assert [x.entry_ids for x in conflicts] == [["x"]]


def test_a_blackout_entry_is_not_in_conflict_with_itself_or_another_blackout():
    blackout = Blackout("b1", date(2025, 6, 4), date(2025, 6, 4))
    shown = CalendarEntry("b1", EntryKind.BLACKOUT, "Quiet day", day=date(2025, 6, 4))
    post = _post("p", _utc(2025, 6, 4, 2))
    conflicts = detect_conflicts([shown, post], [], [blackout], SHANGHAI)
    assert [(x.kind, x.entry_ids) for x in conflicts] == [(ConflictKind.BLACKOUT, ["p"])]


# --- iCalendar feed


def _parse(feed: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(feed)


def _events(calendar):
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        # New York springs forward on 2025-03-09: 09:00 local is 14:00 UTC, then 13:00 UTC.
        ("America/New_York", _utc(2025, 3, 7, 14), _utc(2025, 3, 10, 13)),
        # Berlin falls back on 2025-10-26: 10:00 local is 08:00 UTC, then 09:00 UTC.
        ("Europe/Berlin", _utc(2025, 10, 25, 8), _utc(2025, 10, 27, 9)),
        # Shanghai has no DST: 09:00 local is always 01:00 UTC.
        ("Asia/Shanghai", _utc(2025, 3, 7, 1), _utc(2025, 3, 10, 1)),
    ],
)
def test_ics_keeps_wall_time_across_dst(zone, before, after):
    tz = ZoneInfo(zone)
    entries = [_post("before", before), _post("after", after)]
    calendar = _parse(build_ics("Team", tz, entries, now=_utc(2025, 3, 1)))
    vtimezone = calendar.walk("VTIMEZONE")
    assert [str(v["TZID"]) for v in vtimezone] == [zone]
    from_vtimezone = vtimezone[0].to_tz(lookup_tzid=False)  # what a calendar app would build
    events = _events(calendar)
    for uid, instant in (
        ("publication-before@mediaops", before),
        ("publication-after@mediaops", after),
    ):
        start = events[uid].decoded("DTSTART")
        assert events[uid]["DTSTART"].params["TZID"] == zone
        assert (start.hour, start.minute) == (9 if zone != "Europe/Berlin" else 10, 0)
        assert start == instant
        wall = start.replace(tzinfo=from_vtimezone)
        assert wall == instant
        assert events[uid].decoded("DTEND") - start == timedelta(minutes=30)


def test_ics_calendar_properties_and_stable_uids():
    entries = [
        _post("p1", _utc(2025, 6, 2, 2), channels=("weibo",), account_ids=("weibo-main",)),
        CalendarEntry(
            "k1",
            EntryKind.KEY_DATE,
            "Dragon Boat Festival",
            day=date(2025, 5, 31),
            last_day=date(2025, 6, 2),
            category="holiday",
        ),
    ]
    now = _utc(2025, 5, 20, 8)
    feed = build_ics("Acme Social", SHANGHAI, entries, now)
    calendar = _parse(feed)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]) == "-//mediaops//planning calendar//EN"
    assert str(calendar["X-WR-CALNAME"]) == "Acme Social"
    assert str(calendar["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    events = _events(calendar)
    assert set(events) == {"publication-p1@mediaops", "key_date-k1@mediaops"}
    post = events["publication-p1@mediaops"]
    assert post.decoded("DTSTAMP") == now
    assert post.decoded("DTSTART") == datetime(2025, 6, 2, 10, tzinfo=SHANGHAI)
    assert "Channels: weibo" in str(post["DESCRIPTION"])
    holiday = events["key_date-k1@mediaops"]
    assert holiday.decoded("DTSTART") == date(2025, 5, 31)
    assert holiday.decoded("DTEND") == date(2025, 6, 3)  # exclusive end of an all-day span
    # Regenerating later changes only DTSTAMP: the UIDs stay, so apps update, not duplicate.
    later = build_ics("Acme Social", SHANGHAI, list(reversed(entries)), now + timedelta(hours=1))
    assert later.replace(b"20250520T090000Z", b"20250520T080000Z") == feed
    assert b"\r\n" in feed


def test_ics_refuses_a_naive_now():
    with pytest.raises(DomainError):
        build_ics("Team", SHANGHAI, [], datetime(2025, 1, 1))
