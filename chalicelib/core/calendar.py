"""Calendar helpers shared by schedules and tasks: zones, local dates, date ranges (pure: no AWS, no HTTP).

The local *date* is what counts. An instant maps to exactly one local date in a zone
(``zoneinfo`` resolves DST gaps and folds), so keying a daily instance by ``(task_id, local_date)``
can never yield two instances for one day, and hourly ticks reach every local day that exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.core.errors import Invalid

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

# The earliest "today" anywhere on Earth is today in UTC-12: nothing dated after a zone's today is
# dated on or before this one, which bounds index queries for "future" instances.
EARLIEST_ZONE = "Etc/GMT+12"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo  # on first use: only the calendar routes and the scheduler need zones

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


def utc(dt: datetime) -> datetime:
    """``dt`` in UTC (a naive one is taken as UTC)."""
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: str, field: str = "date") -> date:
    """A calendar date ``YYYY-MM-DD`` from a path segment; anything else is 400 ``validation_error``."""
    try:
        # the pattern first: fromisoformat also takes ISO week dates ("2026-W02-1") and basic "20260105"
        if _DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise Invalid(f"{field} must be a calendar date YYYY-MM-DD.", details={"fields": {field: "not a YYYY-MM-DD date"}})
