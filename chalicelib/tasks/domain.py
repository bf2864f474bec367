"""Tasks: which local day an instance is for, the writers' lease timings, the scheduler's limits (pure).

The local *date* is what counts (see :mod:`chalicelib.core.calendar`): an instance is keyed by
``(task_id, local_date)``, so there can never be two for one day.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from chalicelib.core.calendar import days, earliest_today, local_date

__all__ = ["days", "earliest_today", "local_date"]  # re-exported: the calendar helpers task code uses

NONE = "none"
DAILY = "daily"
KIND = "task"
ACTIVE = "active"
ENDED = "ended"
OPEN = "open"
DONE = "done"
MAX_BACKFILL_DAYS = 366
MAX_WORK_ITEMS = 5000  # candidate instances per prune/backfill request (bounded work per call)
BATCH_GET = 100  # DynamoDB BatchGetItem keys per request
BATCH_WRITE = 25  # DynamoDB BatchWriteItem items per request
LEASE_ID = "lease#instance-writer"  # reserved key prefix in the tasks table ('#' is never in a task id)
SHARDS = 256  # 1,000,000 tasks -> ~3,900 per shard: one shard job of a few seconds on AWS (README "Scheduler")
SHARD_JOB_ITEMS = 10_000  # tasks one shard job reads before it hands the rest to a continuation job
SHARD_JOB_BUDGET_S = 120.0  # seconds one shard job works before it hands the rest on (the jobs queue's Lambda: 300 s)
SHARD_JOB_MIN_REMAINING_MS = 60_000  # ... or when its invocation has less than this left (a batch runs several jobs)
SCHEDULER_LEASE_S = 360  # a shard job's lease: the jobs queue's Lambda timeout (300 s) + a minute
LEGACY = "legacy"  # the shard job serving tasks not yet migrated to shards (the old ``by_active_daily`` index)
BACKFILL_LEASE_S = 120  # an API request's Lambda timeout (30 s), generously
LEASE_MARGIN_S = 60  # never write with less than this left on the lease (renew first)
BACKFILL_WAIT_S = 10.0  # how long backfill waits for a running scheduler before answering 409
SCHEDULER_WAIT_S = 60.0  # how long the scheduler waits for a backfill batch (one API request) to finish
FAMILY_DEFAULT_DAYS = 14  # what a family sees of a student's tasks when it names no range: the last two weeks
FAMILY_MAX_DAYS = 62  # the longest range one family read may ask for (bounded work: one key query per task)
FAMILY_MAX_TASKS = 100  # tasks of one student one family read looks at (more is reported as truncated)


def shard_of(task_id: str) -> int:
    """The scheduler shard of a task: a stable hash of its id (CRC-32, the same in every process)."""
    return zlib.crc32(task_id.encode()) % SHARDS


def shard_key(shard: int) -> str:
    """The value of ``sched_shard`` (the sparse per-shard index's partition key) for ``shard``."""
    return f"{shard:03d}"


def lease_id(shard: int | str) -> str:
    """The instance-writer lease row of one shard (``lease#instance-writer#017``)."""
    return f"{LEASE_ID}#{shard if isinstance(shard, str) else shard_key(shard)}"


def family_window(today: date, from_: date | None, to: date | None) -> tuple[date, date]:
    """The dates a family read covers for a task whose local date is ``today``: ``from_``..``to``, never
    past today (a family sees today's and past instances, not the scheduler's future ones). Default: the
    last :data:`FAMILY_DEFAULT_DAYS` days. A reversed range or one longer than :data:`FAMILY_MAX_DAYS` is
    refused (:class:`ValueError`; the caller answers 400)."""
    if from_ is not None and to is not None:
        if from_ > to:
            raise ValueError("from is after to")
        if (to - from_).days + 1 > FAMILY_MAX_DAYS:
            raise ValueError(f"a range covers at most {FAMILY_MAX_DAYS} days")
    end = min(to or today, today)
    start = from_ if from_ is not None else end - timedelta(days=FAMILY_DEFAULT_DAYS - 1)
    return start, end


@dataclass(frozen=True)
class Clock:
    """The lease's two clocks: wall time for the shared expiry (epoch seconds, compared by every
    holder), monotonic time for a holder's own deadline. Tests pass shifted ones."""

    wall: Callable[[], float] = time.time
    mono: Callable[[], float] = time.monotonic


SYSTEM_CLOCK = Clock()


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


@dataclass(frozen=True)
class Candidate:
    """An instance that should exist: ``(task_id, date)`` is its key."""

    task_id: str
    date: date
    timezone: str
    series: str | None = DAILY


@dataclass
class EnsureResult:
    checked: int = 0
    missing: int = 0
    created: int = 0
    existing: int = 0
    sample: list[dict[str, str]] = field(default_factory=list)

    def add(self, other: EnsureResult, sample_size: int) -> None:
        self.checked += other.checked
        self.missing += other.missing
        self.created += other.created
        self.existing += other.existing
        self.sample = (self.sample + other.sample)[:sample_size]
