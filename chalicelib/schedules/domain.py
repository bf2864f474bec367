"""Schedules: the rules of session dates and the cascade delete's limits (pure: no AWS, no HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from chalicelib.core.calendar import local_date

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
