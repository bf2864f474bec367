"""Calendar rules for schedules and tasks: local dates, DST, occurrences (pure: no AWS, no HTTP).

The local *date* is what counts. An instant maps to exactly one local date in a zone
(``zoneinfo`` resolves DST gaps and folds), so keying a daily instance by ``(task_id, local_date)``
can never yield two instances for one day, and hourly ticks reach every local day that exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

NONE = "none"
DAILY = "daily"
WEEKLY = "weekly"
MAX_BACKFILL_DAYS = 366
# The earliest "today" anywhere on Earth is today in UTC-12: nothing dated after a zone's today is
# dated on or before this one, which bounds index queries for "future" instances.
EARLIEST_ZONE = "Etc/GMT+12"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo  # on first use: only the academic routes and the scheduler need zones

    return ZoneInfo(name)


def local_date(tz: str, at: datetime) -> date:
    """The calendar date at instant ``at`` (aware) in zone ``tz``."""
    if at.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return at.astimezone(zone(tz)).date()


def earliest_today(at: datetime) -> date:
    """The smallest local date any zone has at ``at``."""
    return local_date(EARLIEST_ZONE, at)


def days(start: date, end: date) -> Iterator[date]:
    """Every date from ``start`` to ``end`` inclusive (nothing if end < start)."""
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


# --- tasks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskWindow:
    """What the scheduler needs to know about a task: zone and its active date range."""

    task_id: str
    timezone: str
    starts_on: date
    ends_on: date | None = None

    def active_on(self, d: date) -> bool:
        return self.starts_on <= d and (self.ends_on is None or d <= self.ends_on)

    def ended_by(self, today: date) -> bool:
        return self.ends_on is not None and today > self.ends_on


def due_today(task: TaskWindow, now: datetime) -> date | None:
    """The local date the scheduler must ensure an instance for, or None (not started / ended)."""
    today = local_date(task.timezone, now)
    return today if task.active_on(today) else None


def backfill_dates(task: TaskWindow, start: date, end: date, now: datetime) -> list[date]:
    """Days in [start, end] on which the task was active, never after the task's local today."""
    today = local_date(task.timezone, now)
    lo = max(start, task.starts_on)
    hi = min(end, today, task.ends_on or end)
    return list(days(lo, hi))


def creation_date(recurrence: str, starts_on: date, today: date) -> date | None:
    """The one instance a new task gets: a daily task never gets a future one (the scheduler makes it)."""
    if recurrence == DAILY and starts_on > today:
        return None
    return starts_on


def is_future(d: date, tz: str, now: datetime) -> bool:
    return d > local_date(tz, now)


# --- schedules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleTimes:
    starts_at: datetime
    ends_at: datetime
    recurrence: str = NONE
    until: date | None = None
    timezone: str = "UTC"

    def first_date(self) -> date:
        return local_date(self.timezone, self.starts_at)

    def last_date(self) -> date | None:
        """The last local date a session can fall on (None: weekly without end)."""
        if self.recurrence == WEEKLY:
            return self.until
        return local_date(self.timezone, self.ends_at)

    def occurs_on(self, d: date) -> bool:
        """Whether a session happens (starts, or for a one-off, runs) on local date ``d``."""
        first = self.first_date()
        if d < first:
            return False
        if self.recurrence == WEEKLY:
            return (d - first).days % 7 == 0 and (self.until is None or d <= self.until)
        return d <= local_date(self.timezone, self.ends_at)


def active_until_key(times: ScheduleTimes) -> str:
    """A sortable key for "last active date" (weekly without end sorts after every date)."""
    last = times.last_date()
    return last.isoformat() if last else "9999-12-31"


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
