from datetime import UTC, datetime, timedelta

import pytest

from services.publisher.domain.errors import DomainError
from services.publisher.domain.scheduling import (
    BestHour,
    Frequency,
    QuotaPolicy,
    Recurrence,
    check_quota,
    expand_recurrence,
    local_day_bounds,
    resolve_schedule,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# Europe/Berlin 2026: CET -> CEST on Sun 29 March at 02:00, back on Sun 25 October at 03:00.
# America/New_York 2026: EST -> EDT on Sun 8 March at 02:00.


@pytest.mark.parametrize(
    ("tz", "local", "expected"),
    [
        (BERLIN, datetime(2026, 3, 28, 9, 0), utc(2026, 3, 28, 8, 0)),  # CET, +01:00
        (BERLIN, datetime(2026, 3, 30, 9, 0), utc(2026, 3, 30, 7, 0)),  # CEST, +02:00
        (BERLIN, datetime(2026, 3, 29, 2, 30), utc(2026, 3, 29, 1, 30)),  # gap -> 03:30 CEST
        (BERLIN, datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),  # fold -> first
        (NEW_YORK, datetime(2026, 3, 9, 9, 0), utc(2026, 3, 9, 13, 0)),  # EDT, -04:00
        (NEW_YORK, datetime(2026, 3, 8, 2, 15), utc(2026, 3, 8, 7, 15)),  # gap -> 03:15 EDT
    ],
)
def test_local_wall_time_maps_to_the_right_instant(tz, local, expected):
    now = utc(2026, 1, 1)
    assert resolve_schedule(local, "at", tz, now=now) == expected


def test_aware_requested_time_is_kept_as_an_instant():
    at = datetime.fromisoformat("2026-03-30T09:00:00+09:00")
    assert resolve_schedule(at, "at", BERLIN, now=utc(2026, 1, 1)) == utc(2026, 3, 30, 0, 0)


def test_past_time_is_refused_with_the_field_name():
    now = utc(2026, 3, 1, 12)
    with pytest.raises(DomainError) as err:
        resolve_schedule(now - timedelta(seconds=1), "at", BERLIN, now=now)
    assert err.value.field == "scheduled_at"
    with pytest.raises(DomainError) as missing:
        resolve_schedule(None, "at", BERLIN, now=now)
    assert missing.value.field == "scheduled_at"


def test_unknown_zone_and_mode_are_refused():
    with pytest.raises(DomainError) as zone_err:
        resolve_schedule(None, "asap", "Mars/Olympus", now=utc(2026, 1, 1))
    assert zone_err.value.field == "timezone"
    with pytest.raises(DomainError) as mode_err:
        resolve_schedule(None, "whenever", BERLIN, now=utc(2026, 1, 1))
    assert mode_err.value.field == "mode"


def test_asap_and_min_lead():
    now = utc(2026, 3, 1, 12)
    assert resolve_schedule(None, "asap", BERLIN, now=now) == now
    lead = timedelta(minutes=5)
    assert resolve_schedule(None, "asap", BERLIN, now=now, min_lead=lead) == now + lead
    soon = now + timedelta(minutes=1)
    assert resolve_schedule(soon, "at", BERLIN, now=now, min_lead=lead) == now + lead


MONDAY_10_BERLIN = utc(2026, 3, 2, 9, 0)  # Monday 10:00 CET


def test_next_slot_is_the_next_local_slot():
    got = resolve_schedule(
        None, "next_slot", BERLIN, now=MONDAY_10_BERLIN, slots=["09:00", "18:00"]
    )
    assert got == utc(2026, 3, 2, 17, 0)  # Monday 18:00 CET


def test_next_slot_respects_weekdays_and_min_lead():
    slots = [{"time": "18:00", "weekdays": [2]}, "07:30"]  # Wednesdays 18:00, daily 07:30
    got = resolve_schedule(
        None, "next_slot", BERLIN, now=MONDAY_10_BERLIN, slots=slots, min_lead=timedelta(days=1)
    )
    assert got == utc(2026, 3, 4, 6, 30)  # Tue 07:30 is < now+1d -> Wed 07:30 CET
    got = resolve_schedule(
        None,
        "next_slot",
        BERLIN,
        now=MONDAY_10_BERLIN,
        slots=slots,
        min_lead=timedelta(days=1, hours=22),  # Wednesday 08:00
    )
    assert got == utc(2026, 3, 4, 17, 0)  # Wednesday 18:00 CET


def test_next_slot_prefers_a_slot_in_the_best_hours():
    best = [BestHour(weekday=1, hour=9, score=0.9), (3, 18, 0.5)]  # Tue 9h, Thu 18h
    got = resolve_schedule(
        None, "next_slot", BERLIN, now=MONDAY_10_BERLIN, slots=["09:00", "18:00"], best_hours=best
    )
    assert got == utc(2026, 3, 3, 8, 0)  # Tuesday 09:00 CET, not Monday 18:00


def test_next_slot_without_slots_uses_best_hours_and_without_both_is_asap():
    best = [((4, 12), 0.7)]  # Friday 12h
    got = resolve_schedule(None, "next_slot", BERLIN, now=MONDAY_10_BERLIN, best_hours=best)
    assert got == utc(2026, 3, 6, 11, 0)
    assert resolve_schedule(None, "next_slot", BERLIN, now=MONDAY_10_BERLIN) == MONDAY_10_BERLIN


def test_next_slot_across_the_dst_change_keeps_local_time():
    saturday_noon = utc(2026, 3, 28, 11, 0)  # Saturday 12:00 CET
    got = resolve_schedule(None, "next_slot", BERLIN, now=saturday_noon, slots=["09:00"])
    assert got == utc(2026, 3, 29, 7, 0)  # Sunday 09:00 CEST (+02:00)


def test_bad_slot_is_refused():
    with pytest.raises(DomainError) as err:
        resolve_schedule(None, "next_slot", BERLIN, now=MONDAY_10_BERLIN, slots=["9h"])
    assert err.value.field == "slots"


def test_weekly_recurrence_keeps_wall_time_across_dst():
    rule = Recurrence(Frequency.WEEKLY, count=3)
    got = expand_recurrence(datetime(2026, 3, 20, 9, 0), BERLIN, rule)
    assert got == [utc(2026, 3, 20, 8), utc(2026, 3, 27, 8), utc(2026, 4, 3, 7)]


def test_daily_recurrence_across_autumn_change_with_until():
    rule = Recurrence(Frequency.DAILY, until=datetime(2026, 10, 26, 9, 0))  # naive = local
    got = expand_recurrence(datetime(2026, 10, 24, 9, 0), BERLIN, rule)
    assert got == [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)]


def test_recurrence_interval_and_aware_start():
    rule = Recurrence(Frequency.DAILY, interval=2, count=2)
    got = expand_recurrence(datetime.fromisoformat("2026-03-28T08:00:00+00:00"), BERLIN, rule)
    assert got == [utc(2026, 3, 28, 8), utc(2026, 3, 30, 7)]  # 09:00 local both times


def test_recurrence_is_bounded():
    start = datetime(2026, 1, 1, 9, 0)
    for bad in (
        Recurrence(Frequency.DAILY),
        Recurrence(Frequency.DAILY, count=53),
        Recurrence(Frequency.DAILY, interval=0, count=3),
        Recurrence(Frequency.DAILY, until=datetime(2026, 6, 1)),
    ):
        with pytest.raises(DomainError):
            expand_recurrence(start, BERLIN, bad)
    assert len(expand_recurrence(start, BERLIN, Recurrence(Frequency.WEEKLY, count=52))) == 52


def test_local_day_bounds_on_dst_days():
    start, end = local_day_bounds(utc(2026, 3, 29, 12), BERLIN)
    assert (start, end - start) == (utc(2026, 3, 28, 23), timedelta(hours=23))
    start, end = local_day_bounds(utc(2026, 10, 25, 12), BERLIN)
    assert (start, end - start) == (utc(2026, 10, 24, 22), timedelta(hours=25))


def test_quota_refuses_or_warns_past_the_daily_budget():
    day = [utc(2026, 3, 2, h) for h in (8, 12)]
    ok = check_quota(day[:1], 2, "refuse")
    assert (ok.allowed, ok.warning, ok.exceeded) == (True, None, False)
    refused = check_quota(day, 2, QuotaPolicy.REFUSE)
    assert (refused.allowed, refused.exceeded, refused.scheduled_that_day) == (False, True, 2)
    warned = check_quota(day, 2, "warn")
    assert warned.allowed and "daily quota of 2" in warned.warning
    assert check_quota(day * 50, None).allowed
