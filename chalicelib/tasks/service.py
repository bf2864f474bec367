"""Tasks: the use cases — create, end, mark an instance, the hourly scheduler run, prune and backfill.

Who writes instances, and how the writers take turns, is told in :mod:`chalicelib.tasks.store`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import batched
from typing import Any

from chalicelib.core.db import new_id, utcnow
from chalicelib.core.errors import Conflicting, Invalid
from chalicelib.core.observability import logger
from chalicelib.students import store as students
from chalicelib.tasks import domain, store
from chalicelib.tasks.domain import (
    ACTIVE,
    BACKFILL_LEASE_S,
    BACKFILL_WAIT_S,
    BATCH_GET,
    DAILY,
    MAX_BACKFILL_DAYS,
    MAX_WORK_ITEMS,
    SCHEDULER_LEASE_S,
    SCHEDULER_WAIT_S,
    SYSTEM_CLOCK,
    Candidate,
    Clock,
)
from chalicelib.tasks.store import InstanceWriter, Lease, LeaseLost, Task, TaskInstance


@dataclass(frozen=True)
class Timings:
    """How long an instance writer waits for the lease's holder, and the clocks it reads."""

    backfill_wait_s: float = BACKFILL_WAIT_S
    scheduler_wait_s: float = SCHEDULER_WAIT_S
    clock: Clock = SYSTEM_CLOCK


TIMINGS = Timings()  # what the routes and the scheduled function run with (tests shorten the waits)


# --- tasks ---------------------------------------------------------------------------------------


def create(
    title: str,
    description: str | None,
    student_id: str | None,
    recurrence_kind: str,
    timezone: str | None,
    starts_on: date | None,
    ends_on: date | None,
    now: datetime | None = None,
) -> tuple[Task, int]:
    """Create a task and at most one instance, in one transaction. Returns (task, instances_created)."""
    now = now or utcnow()
    if student_id is not None:
        student = students.find(student_id)
        if student is None:
            raise Invalid(
                f"Student {student_id} does not exist.",
                code="unknown_student",
                details={"fields": {"student_id": "unknown student"}},
            )
        timezone = timezone or student.timezone
    tz = timezone or "UTC"
    today = domain.local_date(tz, now)
    start = starts_on or today
    if ends_on is not None and ends_on < start:
        raise Invalid("ends_on is before starts_on.", details={"fields": {"ends_on": "must be on or after starts_on"}})
    task = Task(
        id=new_id(),
        title=title,
        description=description,
        student_id=student_id,
        recurrence=recurrence_kind,
        timezone=tz,
        starts_on=start.isoformat(),
        ends_on=ends_on.isoformat() if ends_on else None,
        status=ACTIVE,
        created_at=now,
        updated_at=now,
    )
    if recurrence_kind == DAILY and not task.window().ended_by(today):
        task.active_daily = DAILY
    first = domain.creation_date(recurrence_kind, start, today)
    series = DAILY if recurrence_kind == DAILY else None
    store.create(task, Candidate(task.id, first, tz, series) if first is not None else None, now)
    return task, 1 if first is not None else 0


def list_instances(
    task_id: str, limit: int, next_token: str | None, from_: date | None = None, to: date | None = None
) -> tuple[list[TaskInstance], str | None]:
    """A task's instances by date (404 for an unknown task)."""
    store.get(task_id)
    return store.list_instances(task_id, limit, next_token, from_, to)


def set_instance_status(task_id: str, day: date, status: str, actor_id: str | None) -> TaskInstance:
    """open ↔ done on an existing instance (404 for an unknown task, or no instance on that date)."""
    store.get(task_id)
    return store.set_instance_status(task_id, day, status, actor_id)


def end(task_id: str, now: datetime | None = None) -> tuple[Task, int, bool]:
    """End a task: no more recurrence, future instances removed, past ones kept. Idempotent.

    Returns (task, future_instances_deleted, already_ended)."""
    now = now or utcnow()
    task = store.get(task_id)
    today = domain.local_date(task.timezone, now)
    already = task.deleted_at is not None
    if not already:
        store.mark_ended(task, today if not task.ends_on else min(today, date.fromisoformat(task.ends_on)), now)
    removed = store.delete_instances(store.instances_after(task_id, today))
    return store.get(task_id), removed, already


# --- the scheduler -------------------------------------------------------------------------------


def _backfill_finished(lease: Lease, wait_s: float) -> bool:
    """A backfill batch (one API request) holds the lease: wait for it rather than come back in an hour.
    Another scheduler run holding it (EventBridge fired twice) is left alone: it does the same work."""
    held = store.current_lease()
    return held is not None and held.holder == "backfill" and lease.acquire_within(wait_s)


def run_scheduler(
    now: datetime | None = None,
    page_size: int | None = None,
    *,
    timings: Timings | None = None,
    writer: InstanceWriter = store.batch_put,
) -> dict[str, int]:
    """For every active daily task, ensure the instance for the task's local today exists.

    Takes the instance-writer lease first; if another run (or a backfill) holds it, returns at once
    with ``skipped: 1`` and writes nothing. Pages through the sparse ``by_active_daily`` index (1 MB
    pages unless ``page_size``) and works in chunks of 100 candidates, so memory stays bounded
    whatever the number of tasks. Safe to run any number of times, concurrently.
    """
    now = now or utcnow()
    timings = timings or TIMINGS
    stats = {"tasks": 0, "due": 0, "created": 0, "existing": 0, "retired": 0, "not_started": 0, "skipped": 0, "lease_lost": 0}
    lease = Lease("scheduler", SCHEDULER_LEASE_S, timings.clock)
    if not lease.acquire() and not _backfill_finished(lease, timings.scheduler_wait_s):
        held = store.current_lease()
        stats["skipped"] = 1
        logger.info(
            "scheduler run skipped: the instance-writer lease is held",
            extra={"lease_holder": held.holder if held else None, "lease_expires_at": held.expires_at if held else None},
        )
        return stats

    def candidates() -> Iterator[Candidate]:
        for task in store.active_daily(page_size):
            stats["tasks"] += 1
            window = task.window()
            today = domain.local_date(task.timezone, now)
            if window.ended_by(today):
                store.retire(task)
                stats["retired"] += 1
            elif not window.active_on(today):
                stats["not_started"] += 1
            else:
                stats["due"] += 1
                yield Candidate(task.id, today, task.timezone, DAILY)

    try:
        for chunk in batched(candidates(), BATCH_GET):
            r = store.ensure_instances(chunk, "scheduler", sample_size=0, lease=lease, writer=writer)
            stats["created"] += r.created
            stats["existing"] += r.existing
    except LeaseLost as exc:
        stats["lease_lost"] = 1
        if exc.partial is not None:
            stats["created"] += exc.partial.created
            stats["existing"] += exc.partial.existing
        logger.warning("scheduler run stopped: its lease was taken over; the next run finishes", extra={"scheduler": stats})
        return stats
    finally:
        lease.release()
    return stats


# --- operator repairs ----------------------------------------------------------------------------


def prune_future(
    apply: bool, cursor: str | None, limit: int, now: datetime | None = None, sample_size: int = 20
) -> dict[str, Any]:
    """One bounded batch of "instances of recurring tasks dated after the task's local today".

    Reads at most ``limit`` index entries from the sparse ``by_series`` index (dates after the
    earliest local today on Earth), keeps those after their own zone's today, and deletes them
    when ``apply``. ``next_cursor`` continues; ``None`` means done.
    """
    now = now or utcnow()
    items, next_cursor = store.recurring_after(domain.earliest_today(now), limit, cursor)
    matched = [i for i in items if domain.is_future(date.fromisoformat(i.date), i.timezone, now)]
    deleted = store.delete_instances(matched) if apply else 0
    return {
        "dry_run": not apply,
        "scanned": len(items),
        "matched": len(matched),
        "deleted": deleted,
        "sample": [{"task_id": i.task_id, "date": i.date, "timezone": i.timezone} for i in matched[:sample_size]],
        "next_cursor": next_cursor,
    }


def _wait_for_lease(holder: str, ttl_s: float, wait_s: float, clock: Clock) -> Lease:
    """The instance-writer lease, waiting up to ``wait_s`` for its holder; 409 ``instance_writer_busy`` after."""
    lease = Lease(holder, ttl_s, clock)
    if lease.acquire_within(wait_s):
        return lease
    held = store.current_lease()
    retry_after = max(1, int((held.expires_at - clock.wall()) if held else 1))
    raise Conflicting(
        "Task instances are being written by another run (the hourly scheduler or a backfill); try again shortly.",
        code="instance_writer_busy",
        details={"holder": held.holder if held else None, "retry_after_s": retry_after},
    )


def backfill(
    start: date,
    end_: date,
    apply: bool,
    cursor: str | None,
    limit: int,
    task_id: str | None = None,
    now: datetime | None = None,
    sample_size: int = 20,
    timings: Timings | None = None,
) -> dict[str, Any]:
    """One bounded batch of missed days for daily tasks in [start, end] (never after a task's local
    today, never outside its active range, never for a deleted task); creates them when ``apply``."""
    now = now or utcnow()
    timings = timings or TIMINGS
    if end_ < start:
        raise Invalid("'to' is before 'from'.", details={"fields": {"to": "must be on or after from"}})
    span = (end_ - start).days + 1
    if span > MAX_BACKFILL_DAYS:
        raise Invalid(
            f"The range spans {span} days; at most {MAX_BACKFILL_DAYS} per run.",
            details={"fields": {"to": f"range longer than {MAX_BACKFILL_DAYS} days"}},
        )
    per_call = max(1, min(limit, MAX_WORK_ITEMS // span))
    tasks: list[Task]
    if task_id:
        task = store.get(task_id)
        if task.recurrence != DAILY:
            raise Invalid(f"Task {task_id} is not a daily task.", details={"fields": {"task_id": "not a daily task"}})
        tasks, next_cursor = [task], None
    else:
        tasks, next_cursor = store.daily_tasks(per_call, cursor)
    live = [t for t in tasks if t.deleted_at is None]
    cands = (Candidate(t.id, d, t.timezone, DAILY) for t in live for d in domain.backfill_dates(t.window(), start, end_, now))
    if not apply:
        r = store.ensure_instances(cands, "backfill", apply=False, sample_size=sample_size)
    else:
        lease = _wait_for_lease("backfill", BACKFILL_LEASE_S, timings.backfill_wait_s, timings.clock)
        try:
            r = store.ensure_instances(cands, "backfill", sample_size=sample_size, lease=lease)
        finally:
            lease.release()
    return {
        "dry_run": not apply,
        "tasks": len(tasks),
        "matched": r.missing,
        "created": r.created,
        "existing": r.existing,
        "sample": r.sample,
        "next_cursor": next_cursor,
    }


@dataclass(frozen=True)
class FamilyTasks:
    """What a family sees of one student's tasks: each task with its instances in the range read."""

    student_id: str
    tasks: list[tuple[Task, date, list[TaskInstance]]]  # (task, its local today, instances newest first)
    truncated: bool


def family_tasks(
    student_id: str, customer_id: str, from_: date | None, to: date | None, now: datetime | None = None
) -> FamilyTasks:
    """A customer's own student's tasks with today's and past instances (each in the task's own zone).

    Someone else's student is 404, as a missing one. One index query for the tasks, then one key query
    per task (at most :data:`~chalicelib.tasks.domain.FAMILY_MAX_TASKS`); no scan."""
    now = now or utcnow()
    try:
        domain.family_window(domain.local_date("UTC", now), from_, to)  # the range's own rules, before any read
    except ValueError as exc:
        raise Invalid(str(exc), details={"from": str(from_), "to": str(to)}) from exc
    students.get_owned(student_id, customer_id)
    tasks, truncated = store.tasks_of_student(student_id, domain.FAMILY_MAX_TASKS)
    out: list[tuple[Task, date, list[TaskInstance]]] = []
    for task in tasks:
        today = domain.local_date(task.timezone, now)
        start, end = domain.family_window(today, from_, to)
        if start > end or task.starts_on > end.isoformat():
            out.append((task, today, []))
            continue
        out.append((task, today, store.instances_between(task.id, start, end)))
    return FamilyTasks(student_id, out, truncated)
