"""The content calendar (排期): entries, local-day views, conflicts and the RFC 5545 feed.

Every instant is stored as an aware UTC datetime; days, weeks and months are computed in the
workspace's IANA zone, so a post at 23:30 in Shanghai lands on the Shanghai day. Key dates
(holidays, trending events) and blackouts are local calendar days, not instants.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import icalendar

from services.planning.domain.errors import DomainError
from services.planning.domain.timezones import local_date, require_aware

MAX_RANGE_DAYS = 366
DEFAULT_SLOT_WINDOW = timedelta(minutes=30)
DEFAULT_EVENT_LENGTH = timedelta(minutes=30)  # a publication slot with no end, in the feed
PRODID = "-//mediaops//planning calendar//EN"


class EntryKind(StrEnum):
    PUBLICATION = "publication"  # a topic going out on channels/accounts
    MILESTONE = "milestone"  # a campaign milestone
    KEY_DATE = "key_date"  # a holiday, trending event or other date worth planning around
    BLACKOUT = "blackout"  # local days with no publishing (see Blackout)


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """Either timed (`starts_at`, optional `ends_at`, UTC) or all-day (`day`..`last_day`,
    local dates)."""

    id: str
    kind: EntryKind
    title: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    day: date | None = None
    last_day: date | None = None  # inclusive; None = a single day
    channels: tuple[str, ...] = ()
    account_ids: tuple[str, ...] = ()
    assignee_ids: tuple[str, ...] = ()
    effort: float = 1.0  # load on each assignee, in their weekly-capacity unit
    topic_id: str | None = None
    campaign_id: str | None = None
    category: str | None = None  # e.g. holiday, trending, launch
    description: str = ""
    sequence: int = 0  # bump on every change so calendar apps replace their copy

    def __post_init__(self) -> None:
        if (self.starts_at is None) == (self.day is None):
            raise DomainError("starts_at", "an entry has either a start time or an all-day date")
        if self.starts_at is not None:
            require_aware(self.starts_at, "starts_at")
            if self.ends_at is not None:
                require_aware(self.ends_at, "ends_at")
                if self.ends_at < self.starts_at:
                    raise DomainError("ends_at", "must not be before starts_at")
        if self.day is not None and self.last_day is not None and self.last_day < self.day:
            raise DomainError("last_day", "must not be before day")

    @property
    def all_day(self) -> bool:
        return self.day is not None

    def local_days(self, tz: ZoneInfo) -> list[date]:
        """Every local day the entry touches in `tz`."""
        if self.day is not None:
            first, last = self.day, self.last_day or self.day
        else:
            assert self.starts_at is not None
            first = local_date(self.starts_at, tz)
            last = first
            if self.ends_at is not None and self.ends_at > self.starts_at:
                # An end at exactly local midnight does not spill into the next day.
                last = local_date(self.ends_at - timedelta(microseconds=1), tz)
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def week_start(self, tz: ZoneInfo) -> date:
        """Monday of the local week the entry starts in."""
        first = self.local_days(tz)[0]
        return first - timedelta(days=first.weekday())

    def sort_key(self) -> tuple[int, datetime | date, str]:
        if self.starts_at is not None:
            return (1, self.starts_at, self.id)
        assert self.day is not None
        return (0, self.day, self.id)


# --- ranges and views -----------------------------------------------------------------------


def validate_range(start: date | datetime, end: date | datetime) -> None:
    """A requested calendar range: end after start, at most 366 days."""
    if isinstance(start, datetime):
        require_aware(start, "start")
    if isinstance(end, datetime):
        require_aware(end, "end")
    if type(start) is not type(end):
        raise DomainError("end", "start and end must both be dates or both be date-times")
    if end <= start:
        raise DomainError("end", "must be after start")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise DomainError("end", f"the range must not exceed {MAX_RANGE_DAYS} days")


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    entries: list[CalendarEntry]


@dataclass(frozen=True, slots=True)
class CalendarView:
    timezone: str
    first_day: date
    last_day: date  # inclusive
    days: list[CalendarDay]


def range_view(
    entries: Iterable[CalendarEntry], tz: ZoneInfo, first_day: date, last_day: date
) -> CalendarView:
    """Entries grouped per local day, every day of the range present (empty days too)."""
    validate_range(first_day, last_day + timedelta(days=1))
    per_day: dict[date, list[CalendarEntry]] = defaultdict(list)
    for entry in entries:
        for day in entry.local_days(tz):
            if first_day <= day <= last_day:
                per_day[day].append(entry)
    days = []
    day = first_day
    while day <= last_day:
        days.append(CalendarDay(day, sorted(per_day.get(day, []), key=CalendarEntry.sort_key)))
        day += timedelta(days=1)
    return CalendarView(tz.key, first_day, last_day, days)


def week_view(entries: Iterable[CalendarEntry], tz: ZoneInfo, any_day: date) -> CalendarView:
    """Monday to Sunday of the week containing `any_day`."""
    monday = any_day - timedelta(days=any_day.weekday())
    return range_view(entries, tz, monday, monday + timedelta(days=6))


def month_view(
    entries: Iterable[CalendarEntry], tz: ZoneInfo, year: int, month: int
) -> CalendarView:
    if not 1 <= month <= 12:
        raise DomainError("month", "must be between 1 and 12")
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return range_view(entries, tz, first, following - timedelta(days=1))


def entries_in_range(
    entries: Iterable[CalendarEntry], tz: ZoneInfo, start: datetime, end: datetime
) -> list[CalendarEntry]:
    """Entries overlapping [start, end): timed ones by instant, all-day ones by local day."""
    validate_range(start, end)
    first_day, last_day = local_date(start, tz), local_date(end - timedelta(microseconds=1), tz)
    found = []
    for entry in entries:
        if entry.starts_at is None:
            if any(first_day <= d <= last_day for d in entry.local_days(tz)):
                found.append(entry)
        elif entry.ends_at is None or entry.ends_at == entry.starts_at:
            if start <= entry.starts_at < end:
                found.append(entry)
        elif entry.starts_at < end and entry.ends_at > start:
            found.append(entry)
    return sorted(found, key=CalendarEntry.sort_key)


# --- conflicts ------------------------------------------------------------------------------


class ConflictKind(StrEnum):
    SAME_SLOT = "same_slot"
    MEMBER_OVER_CAPACITY = "member_over_capacity"
    BLACKOUT = "blackout"


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: ConflictKind
    entry_ids: list[str]
    message: str


@dataclass(frozen=True, slots=True)
class MemberCapacity:
    id: str
    name: str
    capacity_per_week: float


@dataclass(frozen=True, slots=True)
class Blackout:
    """Local days with no publishing, for every account or only the listed ones."""

    id: str
    first_day: date
    last_day: date  # inclusive
    reason: str = ""
    account_ids: tuple[str, ...] = field(default_factory=tuple)

    def covers(self, day: date, account_ids: Iterable[str]) -> bool:
        if not self.first_day <= day <= self.last_day:
            return False
        return not self.account_ids or bool(set(self.account_ids) & set(account_ids))


def _same_slot_conflicts(
    entries: list[CalendarEntry], window: timedelta, tz: ZoneInfo
) -> list[Conflict]:
    per_account: dict[str, list[CalendarEntry]] = defaultdict(list)
    for entry in entries:
        if entry.kind is EntryKind.PUBLICATION and entry.starts_at is not None:
            for account in entry.account_ids:
                per_account[account].append(entry)
    conflicts = []
    for account in sorted(per_account):
        slots = sorted(per_account[account], key=CalendarEntry.sort_key)
        for i, first in enumerate(slots):
            for second in slots[i + 1 :]:
                assert first.starts_at is not None and second.starts_at is not None
                gap = second.starts_at - first.starts_at
                if gap >= window:
                    break  # sorted by start: later ones are further away
                when = first.starts_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                minutes = int(gap.total_seconds() // 60)
                conflicts.append(
                    Conflict(
                        ConflictKind.SAME_SLOT,
                        [first.id, second.id],
                        f"account {account} has '{first.title}' at {when} and "
                        f"'{second.title}' {minutes} min later "
                        f"(less than {int(window.total_seconds() // 60)} min apart)",
                    )
                )
    return conflicts


def _capacity_conflicts(
    entries: list[CalendarEntry], members: Iterable[MemberCapacity], tz: ZoneInfo
) -> list[Conflict]:
    capacity = {m.id: m for m in members}
    load: dict[tuple[str, date], list[CalendarEntry]] = defaultdict(list)
    for entry in entries:
        week = entry.week_start(tz)
        for member_id in entry.assignee_ids:
            if member_id in capacity:
                load[(member_id, week)].append(entry)
    conflicts = []
    for member_id, week in sorted(load):
        member = capacity[member_id]
        week_entries = sorted(load[(member_id, week)], key=CalendarEntry.sort_key)
        total = sum(e.effort for e in week_entries)
        if total > member.capacity_per_week:
            conflicts.append(
                Conflict(
                    ConflictKind.MEMBER_OVER_CAPACITY,
                    [e.id for e in week_entries],
                    f"{member.name} has {total:g} planned in the week of {week.isoformat()}, "
                    f"over a weekly capacity of {member.capacity_per_week:g}",
                )
            )
    return conflicts


def _blackout_conflicts(
    entries: list[CalendarEntry], blackouts: Iterable[Blackout], tz: ZoneInfo
) -> list[Conflict]:
    conflicts = []
    ordered_blackouts = sorted(blackouts, key=lambda b: (b.first_day, b.id))
    for entry in sorted(entries, key=CalendarEntry.sort_key):
        if entry.kind in (EntryKind.KEY_DATE, EntryKind.BLACKOUT):
            continue  # a key date may well fall in a blackout: that is often why it exists
        for blackout in ordered_blackouts:
            hit = next(
                (d for d in entry.local_days(tz) if blackout.covers(d, entry.account_ids)), None
            )
            if hit is not None:
                why = f" ({blackout.reason})" if blackout.reason else ""
                conflicts.append(
                    Conflict(
                        ConflictKind.BLACKOUT,
                        [entry.id],
                        f"'{entry.title}' falls on {hit.isoformat()}, a blackout date{why}",
                    )
                )
                break
    return conflicts


def detect_conflicts(
    entries: Iterable[CalendarEntry],
    members: Iterable[MemberCapacity],
    blackouts: Iterable[Blackout],
    tz: ZoneInfo = ZoneInfo("UTC"),
    slot_window: timedelta = DEFAULT_SLOT_WINDOW,
) -> list[Conflict]:
    """Same account booked less than `slot_window` apart, members planned past their weekly
    capacity (local ISO weeks), and entries on blackout days (local dates in `tz`)."""
    items = list(entries)
    return [
        *_same_slot_conflicts(items, slot_window, tz),
        *_capacity_conflicts(items, members, tz),
        *_blackout_conflicts(items, blackouts, tz),
    ]


# --- iCalendar feed -------------------------------------------------------------------------


def _event(entry: CalendarEntry, tz: ZoneInfo, now: datetime, uid_domain: str) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"{entry.kind.value}-{entry.id}@{uid_domain}")
    event.add("dtstamp", now)
    event.add("summary", entry.title)
    if entry.starts_at is not None:
        start = entry.starts_at.astimezone(tz)
        end = (entry.ends_at or entry.starts_at + DEFAULT_EVENT_LENGTH).astimezone(tz)
        event.add("dtstart", start)
        event.add("dtend", max(end, start))
    else:
        assert entry.day is not None
        event.add("dtstart", entry.day)
        event.add("dtend", (entry.last_day or entry.day) + timedelta(days=1))  # exclusive
        event.add("transp", "TRANSPARENT")
    details = [entry.description] if entry.description else []
    if entry.channels:
        details.append("Channels: " + ", ".join(entry.channels))
    if entry.account_ids:
        details.append("Accounts: " + ", ".join(entry.account_ids))
    if details:
        event.add("description", "\n".join(details))
    event.add("categories", [entry.category or entry.kind.value])
    event.add("sequence", entry.sequence)
    return event


def build_ics(
    workspace_name: str,
    tz: ZoneInfo,
    entries: Iterable[CalendarEntry],
    now: datetime,
    uid_domain: str = "mediaops",
) -> bytes:
    """An RFC 5545 calendar: timed entries carry TZID (with a VTIMEZONE) so subscribers show
    the right wall time across DST; key dates are all-day events. UIDs depend only on the
    entry, so a refreshed feed updates events instead of duplicating them."""
    require_aware(now, "now")
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", workspace_name)
    calendar.add("x-wr-timezone", tz.key)
    calendar.add("x-published-ttl", "PT1H")
    stamp = now.astimezone(ZoneInfo("UTC"))
    ordered = sorted(entries, key=CalendarEntry.sort_key)
    for entry in ordered:
        calendar.add_component(_event(entry, tz, stamp, uid_domain))
    # The VTIMEZONE only needs to cover the years the feed uses (a year of margin each side);
    # icalendar's default span, 1970-2038, would add hundreds of transition dates.
    spans = [e.local_days(tz) for e in ordered]
    years = [now.year] + [d.year for days in spans for d in (days[0], days[-1])]
    calendar.add_missing_timezones(
        first_date=date(min(years) - 1, 1, 1), last_date=date(max(years) + 2, 1, 1)
    )
    return calendar.to_ical()
