"""What a report covers: one organisation, a number of UTC days up to a given day, a time zone for the heatmap."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

MAX_DAYS = 366
DEFAULT_DAYS = 30
DEFAULT_TZ = "UTC"


class BadInput(ValueError):
    """A report request that cannot be answered; the message says why."""


@dataclass(frozen=True, slots=True)
class Window:
    org: UUID
    first: date  # the first UTC day
    last: date  # the last UTC day, included
    tz: str  # the heatmap's time zone, checked by zoneinfo

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def window_of(org: str | UUID, days: str | int | None, tz: str | None, today: date | None = None) -> Window:
    """The checked window of `days` UTC days up to `today` (default: today in UTC); BadInput names what is wrong."""
    return Window(org=_org(org), first=_first(days, today), last=_today(today), tz=_tz(tz))


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


def _org(raw: str | UUID) -> UUID:
    if isinstance(raw, UUID):
        return raw
    try:
        return UUID(raw)
    except ValueError:
        raise BadInput(f"org must be an organisation id (a UUID), got {raw!r}") from None


def _first(raw: str | int | None, today: date | None) -> date:
    if raw is None:
        days = DEFAULT_DAYS
    else:
        try:
            days = int(raw)
        except ValueError:
            raise BadInput(f"days must be a whole number from 1 to {MAX_DAYS}, got {raw!r}") from None
        if not 1 <= days <= MAX_DAYS:
            raise BadInput(f"days must be from 1 to {MAX_DAYS}, got {days}")
    return _today(today) - timedelta(days=days - 1)


def _tz(raw: str | None) -> str:
    if raw is None or raw == "":
        return DEFAULT_TZ
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"tz must be a time zone name such as Asia/Kolkata, got {raw!r}") from None
    if raw not in _zone_names():  # zoneinfo also opens localtime, posixrules, right/... which Postgres does not know
        raise BadInput(f"tz must be a time zone name such as Asia/Kolkata, got {raw!r}")
    return raw


@functools.cache
def _zone_names() -> frozenset[str]:
    """The IANA zone names (zoneinfo.available_timezones leaves out localtime, posixrules and the right/ and posix/
    copies)."""
    return frozenset(available_timezones()) - {"localtime"}  # the machine's own zone, where a system file names it
