"""Schedules: the rules of session dates and the cascade delete's limits (pure: no AWS, no HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.core.calendar import local_date, zone

NONE = "none"
WEEKLY = "weekly"
KIND = "schedule"
ACTIVE = "active"
DELETING = "deleting"
MAX_STUDENTS = 50
TX_LIMIT = 100  # DynamoDB TransactWriteItems actions
INLINE_DELETE_MAX = TX_LIMIT - 1  # attendance deletes + the schedule's own delete fit one transaction
RETRIES = 6  # attempts of a write that lost a race (attendance upsert, inline delete)


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


def attendance_key(d: date, student_id: str) -> str:
    """The attendance sort key: ``<YYYY-MM-DD>#<student_id>`` (by date, then student)."""
    return f"{d.isoformat()}#{student_id}"


def _no_op(deleted: int) -> None:
    return None


@dataclass(frozen=True)
class DeleteTuning:
    """How the ``delete_schedule`` job paces itself: ``chunk`` keys deleted (in 25-item batches)
    between progress checks, its own heartbeat every ``heartbeat_every_s`` (the worker's thread also
    beats), and ``after_chunk(deleted_so_far)`` after each chunk (tests inject crashes there)."""

    chunk: int = 500
    heartbeat_every_s: float = 20.0
    after_chunk: Callable[[int], None] = _no_op
    min_remaining_ms: int = 30_000  # stop (and let the next attempt resume) with less time than this left


# --- occurrences, exceptions, orphans (issue 17) ---------------------------------------------------

CANCEL = "cancel"
MOVE = "move"
SCHEDULED = "scheduled"
MOVED = "moved"
CANCELLED = "cancelled"
MAX_LESSON_RANGE_DAYS = 92
ATTENDANCE_CODES = ("present", "absent", "late", "excused", "cancelled")
ORPHAN_LIST_CAP = 20  # records named in a 409 would_orphan_attendance


def occurrences(times: ScheduleTimes, from_: date, to: date) -> list[date]:
    """The local dates in [from_, to] on which a session starts (a one-off: its first date only)."""
    first = times.first_date()
    if times.recurrence != WEEKLY:
        return [first] if from_ <= first <= to else []
    last = to if times.until is None else min(to, times.until)
    start = max(from_, first)
    offset = (-(start - first).days) % 7
    d = start + timedelta(days=offset)
    out: list[date] = []
    while d <= last:
        out.append(d)
        d += timedelta(days=7)
    return out


def is_occurrence(times: ScheduleTimes, d: date) -> bool:
    """Whether a session *starts* on local date ``d`` (the identity of a lesson)."""
    return bool(occurrences(times, d, d))


def session_times(times: ScheduleTimes, d: date) -> tuple[datetime, datetime]:
    """The UTC start and end of the session on occurrence date ``d``: the first session's local wall
    time kept on ``d`` (so a weekly lesson stays at 16:00 local across a DST change)."""
    tz = zone(times.timezone)
    local_start = times.starts_at.astimezone(tz)
    start = datetime.combine(d, local_start.timetz().replace(tzinfo=None), tzinfo=tz).astimezone(UTC)
    return start, start + (times.ends_at - times.starts_at)


@dataclass(frozen=True)
class Lesson:
    date: date
    status: str  # scheduled | moved | cancelled
    starts_at: datetime
    ends_at: datetime
    reason: str | None = None


def lesson(times: ScheduleTimes, d: date, exception: dict[str, Any] | None, closure: str | None = None) -> Lesson:
    """One occurrence with its exception (``{"action": "cancel"|"move", ...}``) and closure applied; a
    closure wins over a move (the academy is shut)."""
    start, end = session_times(times, d)
    if closure is not None:
        return Lesson(d, CANCELLED, start, end, f"closure: {closure}")
    reason = (exception or {}).get("reason") or None
    if exception and exception.get("action") == CANCEL:
        return Lesson(d, CANCELLED, start, end, reason or "cancelled")
    if exception and exception.get("action") == MOVE:
        moved_start = datetime.fromisoformat(exception["starts_at"])
        moved_end = datetime.fromisoformat(exception["ends_at"])
        return Lesson(d, MOVED, moved_start, moved_end, reason or "moved")
    return Lesson(d, SCHEDULED, start, end)


def cancelled_dates(exceptions: dict[str, dict[str, Any]]) -> set[str]:
    """The dates an exception map cancels (kept beside it as a set, so a write can be conditioned on it)."""
    return {d for d, e in exceptions.items() if e.get("action") == CANCEL}


def moved_exception(times: ScheduleTimes, to_start: datetime, reason: str | None) -> dict[str, Any]:
    """A move to ``to_start`` keeping the session's length."""
    start = to_start.astimezone(UTC)
    end = start + (times.ends_at - times.starts_at)
    out: dict[str, Any] = {"action": MOVE, "starts_at": start.isoformat(), "ends_at": end.isoformat()}
    if reason:
        out["reason"] = reason
    return out


def split_key(key: str) -> tuple[date, str]:
    day, _, student_id = key.partition("#")
    return date.fromisoformat(day), student_id


def orphaned(keys: Iterable[str], times: ScheduleTimes, student_ids: Iterable[str]) -> list[tuple[date, str]]:
    """Attendance records (by key) a schedule with ``times`` and ``student_ids`` would no longer own:
    the student left, or the date is no longer an occurrence."""
    members = set(student_ids)
    out = []
    for key in keys:
        day, sid = split_key(key)
        if sid not in members or not times.occurs_on(day):
            out.append((day, sid))
    return out
