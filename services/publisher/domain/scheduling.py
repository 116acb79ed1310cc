"""When a publication goes out: explicit time, as soon as possible, or the next good slot.

Wall times are kept in the account's IANA zone and turned into UTC instants only here, so a
post planned for 09:00 Europe/Berlin stays at 09:00 local across a DST change. Local times
that do not exist (spring gap) move forward by the gap, as RFC 5545 reads them (02:30 ->
03:30); ambiguous ones (autumn fold) take the first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.publisher.domain.errors import DomainError

MAX_OCCURRENCES = 52
NEXT_SLOT_HORIZON_DAYS = 14


class ScheduleMode(StrEnum):
    ASAP = "asap"
    AT = "at"
    NEXT_SLOT = "next_slot"


@dataclass(frozen=True)
class Slot:
    """A posting slot: a local wall time, on the given weekdays (0 = Monday) or every day."""

    at: time
    weekdays: frozenset[int] | None = None

    def applies_on(self, day: date) -> bool:
        return self.weekdays is None or day.weekday() in self.weekdays


@dataclass(frozen=True)
class BestHour:
    """One (weekday, hour) bucket from the metrics insights, in the account's zone."""

    weekday: int
    hour: int
    score: float


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DomainError(f"unknown time zone {name!r}", field="timezone") from exc


def parse_slot(value: str | Slot | dict[str, Any]) -> Slot:
    """'HH:MM', or {'time': 'HH:MM', 'weekdays': [0, 2, 4]}."""
    if isinstance(value, Slot):
        return value
    raw_time, weekdays = (
        (value, None)
        if isinstance(value, str)
        else (
            value.get("time"),
            value.get("weekdays"),
        )
    )
    try:
        hours, minutes = str(raw_time).split(":")
        at = time(int(hours), int(minutes))
    except ValueError as exc:
        raise DomainError(f"slot time {raw_time!r} is not HH:MM", field="slots") from exc
    if weekdays is not None:
        days = frozenset(int(d) for d in weekdays)
        if not days or not days <= set(range(7)):
            raise DomainError("slot weekdays must be 0 (Monday) to 6", field="slots")
        return Slot(at, days)
    return Slot(at)


def parse_best_hour(value: BestHour | Sequence[Any] | dict[str, Any]) -> BestHour:
    """BestHour, (weekday, hour, score), ((weekday, hour), score) or a dict with those keys."""
    if isinstance(value, BestHour):
        return value
    if isinstance(value, dict):
        return BestHour(int(value["weekday"]), int(value["hour"]), float(value["score"]))
    if len(value) == 2:
        (weekday, hour), score = value
    else:
        weekday, hour, score = value
    return BestHour(int(weekday), int(hour), float(score))


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time; gap -> forward, fold -> first occurrence."""
    # fold=0 gives exactly that with zoneinfo (PEP 495): a gap time is read with the offset
    # before the change, which lands after the gap; an ambiguous one reads as the first.
    local = datetime.combine(day, at.replace(fold=0), tzinfo=tz)
    return local.astimezone(UTC)


def as_utc(value: datetime, tz: ZoneInfo) -> datetime:
    """An aware datetime in UTC; a naive one is read as a wall time in `tz`."""
    if value.tzinfo is None or value.utcoffset() is None:
        return local_to_utc(value.date(), value.time(), tz)
    return value.astimezone(UTC)


def local_day_bounds(instant: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local day holding `instant` (23 or 25 h on DST days)."""
    tz = zone(tz_name)
    day = instant.astimezone(tz).date()
    return local_to_utc(day, time(0), tz), local_to_utc(day + timedelta(days=1), time(0), tz)


def resolve_schedule(
    requested_at: datetime | None,
    mode: ScheduleMode | str,
    account_tz: str,
    *,
    now: datetime,
    slots: Iterable[str | Slot | dict[str, Any]] = (),
    best_hours: Iterable[BestHour | Sequence[Any] | dict[str, Any]] = (),
    min_lead: timedelta = timedelta(0),
) -> datetime:
    """The UTC instant to publish at.

    - at: `requested_at` (a naive value is a wall time in the account's zone); in the past ->
      DomainError(field='scheduled_at'). A time inside `min_lead` is pushed to now + min_lead.
    - asap: now + min_lead.
    - next_slot: the earliest slot at or after now + min_lead (within 14 days) whose local
      (weekday, hour) is among the best hours; with no best hours, or none matching, the
      earliest slot. With no slots, the best hours themselves are the slots. With neither,
      as soon as possible.
    """
    tz = zone(account_tz)
    _require_aware(now, "now")
    earliest = now.astimezone(UTC) + min_lead
    try:
        mode = ScheduleMode(mode)
    except ValueError as exc:
        raise DomainError(f"unknown schedule mode {mode!r}", field="mode") from exc

    if mode is ScheduleMode.AT:
        if requested_at is None:
            raise DomainError("scheduled_at is required for mode 'at'", field="scheduled_at")
        instant = as_utc(requested_at, tz)
        if instant < now:
            raise DomainError("scheduled_at is in the past", field="scheduled_at")
        return max(instant, earliest)

    if mode is ScheduleMode.ASAP:
        return earliest

    parsed_slots = [parse_slot(s) for s in slots]
    parsed_best = [parse_best_hour(b) for b in best_hours]
    if not parsed_slots:
        parsed_slots = [Slot(time(b.hour), frozenset({b.weekday})) for b in parsed_best]
    if not parsed_slots:
        return earliest
    good = {(b.weekday, b.hour) for b in parsed_best if b.score > 0}
    candidates = list(_slot_instants(parsed_slots, tz, earliest, NEXT_SLOT_HORIZON_DAYS))
    if not candidates:
        return earliest
    for instant in candidates:
        local = instant.astimezone(tz)
        if (local.weekday(), local.hour) in good:
            return instant
    return candidates[0]


def _slot_instants(
    slots: Sequence[Slot], tz: ZoneInfo, earliest: datetime, horizon_days: int
) -> Iterable[datetime]:
    """Slot instants >= earliest, in time order, over the horizon."""
    first_day = earliest.astimezone(tz).date()
    for offset in range(horizon_days + 1):
        day = first_day + timedelta(days=offset)
        instants = sorted({local_to_utc(day, s.at, tz) for s in slots if s.applies_on(day)})
        yield from (i for i in instants if i >= earliest)


def _require_aware(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(f"{field} must carry a time zone offset", field=field)


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class Recurrence:
    """Bounded: `count` (<= 52) or `until` (at most 52 occurrences), never open-ended."""

    frequency: Frequency
    interval: int = 1
    count: int | None = None
    until: datetime | None = None


def expand_recurrence(start_local: datetime, tz_name: str, rule: Recurrence) -> list[datetime]:
    """UTC instants of a recurring post that keep the local wall time across DST changes.

    `start_local` is a wall time in `tz_name` (an aware value is converted to it first).
    `until` is inclusive; a naive `until` is a wall time in the same zone.
    """
    tz = zone(tz_name)
    if rule.interval < 1:
        raise DomainError("interval must be at least 1", field="recurrence.interval")
    if rule.count is None and rule.until is None:
        raise DomainError("a recurrence needs count or until", field="recurrence")
    if rule.count is not None and not 1 <= rule.count <= MAX_OCCURRENCES:
        raise DomainError(
            f"count must be between 1 and {MAX_OCCURRENCES}", field="recurrence.count"
        )
    if start_local.tzinfo is not None:
        start_local = start_local.astimezone(tz).replace(tzinfo=None)
    until = as_utc(rule.until, tz) if rule.until is not None else None
    step = timedelta(days=rule.interval * (7 if rule.frequency is Frequency.WEEKLY else 1))
    limit = rule.count if rule.count is not None else MAX_OCCURRENCES

    occurrences: list[datetime] = []
    day, at = start_local.date(), start_local.time()
    while len(occurrences) < limit:
        instant = local_to_utc(day, at, tz)
        if until is not None and instant > until:
            return occurrences
        occurrences.append(instant)
        day += step
    if rule.count is None and until is not None and local_to_utc(day, at, tz) <= until:
        raise DomainError(
            f"until allows more than {MAX_OCCURRENCES} occurrences", field="recurrence.until"
        )
    return occurrences


class QuotaPolicy(StrEnum):
    REFUSE = "refuse"
    WARN = "warn"


@dataclass(frozen=True)
class QuotaResult:
    allowed: bool
    scheduled_that_day: int
    quota: int | None
    warning: str | None = None

    @property
    def exceeded(self) -> bool:
        return self.quota is not None and self.scheduled_that_day + 1 > self.quota


def check_quota(
    existing_scheduled_times_on_local_day: Sequence[datetime],
    quota: int | None,
    policy: QuotaPolicy | str = QuotaPolicy.REFUSE,
) -> QuotaResult:
    """Would one more post on that local day exceed the account's daily quota?

    The caller selects the day's publications with `local_day_bounds`. No quota = no limit.
    """
    policy = QuotaPolicy(policy)
    count = len(existing_scheduled_times_on_local_day)
    if quota is None or count + 1 <= quota:
        return QuotaResult(allowed=True, scheduled_that_day=count, quota=quota)
    message = f"daily quota of {quota} reached: {count} already scheduled that day"
    if policy is QuotaPolicy.WARN:
        return QuotaResult(allowed=True, scheduled_that_day=count, quota=quota, warning=message)
    return QuotaResult(allowed=False, scheduled_that_day=count, quota=quota, warning=message)
