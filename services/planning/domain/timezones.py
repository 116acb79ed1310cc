"""Workspace time zones: IANA names checked against the zoneinfo database."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.planning.domain.errors import DomainError

DEFAULT_TIMEZONE = "Asia/Shanghai"


def validate_timezone(name: str, field: str = "timezone") -> ZoneInfo:
    """Return the zone for an IANA name, or raise DomainError naming `field`."""
    if not isinstance(name, str) or not name.strip():
        raise DomainError(field, "a time zone name such as 'Asia/Shanghai' is required")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError covers malformed keys such as absolute paths or '..'.
        raise DomainError(field, f"unknown time zone {name!r}; use an IANA name") from None


def require_aware(value: datetime, field: str) -> datetime:
    """Reject naive datetimes: every stored instant must carry an offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(field, "must include a time zone offset")
    return value


def local_day_start(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local calendar day begins in `tz` (aware, in that zone)."""
    return datetime.combine(day, time.min, tzinfo=tz)


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local day; 23 or 25 hours long on DST change days."""
    return local_day_start(day, tz), local_day_start(day + timedelta(days=1), tz)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar day an instant falls on in `tz`."""
    return require_aware(instant, "datetime").astimezone(tz).date()


def local_week_start(instant: datetime, tz: ZoneInfo) -> date:
    """Monday of the ISO week an instant falls in, in `tz`."""
    day = local_date(instant, tz)
    return day - timedelta(days=day.weekday())
