"""Tasks and their dated instances: models, queries, the scheduler's writer, prune and backfill (no HTTP).

Keys:
- ``tasks``: ``id``. GSIs: ``by_kind`` (every task, creation order), ``by_student``, ``by_recurrence``
  (backfill walks daily tasks) and the sparse ``by_active_daily`` (only tasks the scheduler must
  serve carry ``active_daily``; ending or deleting a task removes it).
- ``task-instances``: ``task_id`` + ``date`` (local ``YYYY-MM-DD``): the deterministic key that makes
  "one instance per task per local day" a property of the table. Sparse GSI ``by_series`` (``series``,
  ``date``) holds only recurring instances: "future instances of recurring tasks" is one range query.

Who creates instances, and why none of them ever overwrites one:
- task creation writes the task and its first instance in one transaction (conditional put). A task
  becomes visible to the scheduler (through its index) only after that commit, and the scheduler's
  existence check is a consistent read, so it always sees the creation's instance.
- the hourly scheduler and ``backfill`` both hold the **instance-writer lease** while they write: a
  row with the reserved key ``LEASE_ID`` in the ``tasks`` table (not a valid task id, so no route can
  reach it; it carries no indexed attribute, so no list shows it), taken by a conditional update
  (absent or expired) and released at the end. A second scheduler run (EventBridge may fire twice)
  finds it held by a scheduler and returns ``skipped`` without reading or writing; held by a backfill
  batch (one API request), the scheduler waits for it (``SCHEDULER_WAIT_S``) rather than come back in an
  hour. ``backfill`` waits a few seconds for a scheduler, then answers 409 ``instance_writer_busy``
  (``academy tasks backfill`` waits as told and sends the batch again).
- holding the lease, the scheduler reads existence with consistent ``BatchGetItem`` (100 keys) and
  writes the missing instances with ``BatchWriteItem`` (25 per request, unprocessed items retried with
  back-off). A blind put is safe because nobody else can create one of those keys between the read
  and the write: creators are the two lease holders and task creation (see above); status updates
  need the item to exist. Before every write the holder checks that its lease has at least
  ``LEASE_MARGIN_S`` left by its own monotonic clock (measured from before the acquiring request
  was sent) and renews it otherwise (conditional on still owning it), so a run never writes past
  its lease. The scheduler's lease outlives its Lambda timeout; a crashed run's lease simply expires.
- without the lease (``ensure_instances(..., lease=None)``: tests and seeding only; no production path
  writes instances without it) every create is a conditional put (``attribute_not_exists``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import batched
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.indexes import IncludeProjection
from pynamodb.models import Model

from chalicelib.academic import recurrence
from chalicelib.academic.recurrence import DAILY, TaskWindow
from chalicelib.academic.students import Student
from chalicelib.core.db import UTCDateTime, condition_failed, decode_token, gsi, iso, meta, new_id, page, transaction, utcnow
from chalicelib.core.errors import Conflict, NotFound, ValidationFailed
from chalicelib.core.observability import logger

KIND = "task"
ACTIVE = "active"
ENDED = "ended"
OPEN = "open"
DONE = "done"
BATCH_GET = 100  # DynamoDB BatchGetItem keys per request
BATCH_WRITE = 25  # DynamoDB BatchWriteItem items per request
LEASE_ID = "lease#instance-writer"  # reserved key in the tasks table ('#' is never in a task id)
SCHEDULER_LEASE_S = 960  # the scheduler's Lambda timeout (900 s) + a minute
BACKFILL_LEASE_S = 120  # an API request's Lambda timeout (30 s), generously
LEASE_MARGIN_S = 60  # never write with less than this left on the lease (renew first)
BACKFILL_WAIT_S = 10.0  # how long backfill waits for a running scheduler before answering 409
SCHEDULER_WAIT_S = 60.0  # how long the scheduler waits for a backfill batch (one API request) to finish
MAX_WORK_ITEMS = 5000  # candidate instances per prune/backfill request (bounded work per call)


class Task(Model):
    Meta = meta("tasks")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=KIND)
    title = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    student_id = UnicodeAttribute(null=True)
    recurrence = UnicodeAttribute()
    timezone = UnicodeAttribute(default="UTC")
    starts_on = UnicodeAttribute()
    ends_on = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default=ACTIVE)
    active_daily = UnicodeAttribute(null=True)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    deleted_at = UTCDateTime(null=True)
    by_kind = gsi("by_kind", "kind", "id")
    by_student = gsi("by_student", "student_id", "id")
    by_recurrence = gsi(
        "by_recurrence", "recurrence", "id", projection=IncludeProjection(["timezone", "starts_on", "ends_on", "deleted_at"])
    )
    # Sparse: only active daily tasks. The scheduler pages through it (no scan, small projection).
    by_active_daily = gsi(
        "by_active_daily", "active_daily", "id", projection=IncludeProjection(["timezone", "starts_on", "ends_on"])
    )

    def window(self) -> TaskWindow:
        return TaskWindow(
            self.id, self.timezone, date.fromisoformat(self.starts_on), date.fromisoformat(self.ends_on) if self.ends_on else None
        )


class TaskInstance(Model):
    Meta = meta("task-instances")
    task_id = UnicodeAttribute(hash_key=True)
    date = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute(default=OPEN)
    timezone = UnicodeAttribute(default="UTC")
    series = UnicodeAttribute(null=True)  # "daily" for instances of recurring tasks (sparse index)
    source = UnicodeAttribute(default="create")  # create | scheduler | backfill
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    done_at = UTCDateTime(null=True)
    done_by = UnicodeAttribute(null=True)
    by_series = gsi("by_series", "series", "date", projection=IncludeProjection(["timezone"]))


class InstanceWriterLease(Model):
    """The one row (key ``LEASE_ID``) that makes instance writers take turns. Lives in the tasks
    table; deliberately not in ``tables.ALL_MODELS`` (same table and key schema as ``Task``)."""

    Meta = meta("tasks")
    id = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()  # a fresh id per holder
    holder = UnicodeAttribute()  # "scheduler" | "backfill"
    expires_at = NumberAttribute()  # epoch seconds
    acquired_at = UTCDateTime()


# Clocks, patchable in tests: wall time for the shared expiry, monotonic time for our own deadline.
wall_clock: Callable[[], float] = time.time
mono_clock: Callable[[], float] = time.monotonic


class LeaseLost(Exception):
    """Our lease was taken over (it expired and someone else acquired it): stop writing."""

    partial: EnsureResult | None = None  # what the interrupted ensure_instances call had done


class Lease:
    """An exclusive, expiring lease on writing task instances (see the module docstring)."""

    def __init__(self, holder: str, ttl_s: float) -> None:
        self.holder = holder
        self.ttl_s = ttl_s
        self.owner = new_id()
        self._valid_until = 0.0  # monotonic

    def _set(self, condition: Any) -> bool:
        started = mono_clock()
        try:
            InstanceWriterLease(id=LEASE_ID).update(
                actions=[
                    InstanceWriterLease.owner.set(self.owner),
                    InstanceWriterLease.holder.set(self.holder),
                    InstanceWriterLease.expires_at.set(wall_clock() + self.ttl_s),
                    InstanceWriterLease.acquired_at.set(utcnow()),
                ],
                condition=condition,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                return False
            raise
        self._valid_until = started + self.ttl_s
        return True

    def acquire(self) -> bool:
        """Take the lease if nobody holds it or its holder's time is up."""
        free = InstanceWriterLease.id.does_not_exist() | (InstanceWriterLease.expires_at < wall_clock())
        return self._set(free)

    def ensure(self) -> None:
        """Call before every write: renews when less than ``LEASE_MARGIN_S`` is left; LeaseLost if taken."""
        if mono_clock() + LEASE_MARGIN_S < self._valid_until:
            return
        if not self._set(InstanceWriterLease.owner == self.owner):
            self._valid_until = 0.0
            raise LeaseLost(f"the instance-writer lease of this {self.holder} run was taken over")

    def release(self) -> None:
        try:
            InstanceWriterLease(id=LEASE_ID).delete(condition=InstanceWriterLease.owner == self.owner)
        except DeleteError as exc:
            if not condition_failed(exc):
                raise
        self._valid_until = 0.0


def current_lease() -> InstanceWriterLease | None:
    try:
        return InstanceWriterLease.get(LEASE_ID, consistent_read=True)
    except InstanceWriterLease.DoesNotExist:
        return None


@dataclass(frozen=True)
class Candidate:
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


def _new_instance(c: Candidate, source: str, now: datetime) -> TaskInstance:
    return TaskInstance(
        task_id=c.task_id,
        date=c.date.isoformat(),
        status=OPEN,
        timezone=c.timezone,
        series=c.series,
        source=source,
        created_at=now,
        updated_at=now,
    )


def _batch_put(items: list[TaskInstance], lease: Lease, retries: int = 8) -> None:
    """One ``BatchWriteItem`` (≤ 25 puts); unprocessed items are sent again with exponential back-off.
    The lease is checked before every request, retries included."""
    table = TaskInstance.Meta.table_name
    conn = TaskInstance._get_connection()
    pending = [i.serialize() for i in items]
    delay = 0.05
    for _ in range(retries):
        lease.ensure()
        data = conn.batch_write_item(put_items=pending) or {}
        left = (data.get("UnprocessedItems") or {}).get(table) or []
        if not left:
            return
        pending = [r["PutRequest"]["Item"] for r in left]
        time.sleep(delay)
        delay = min(2.0, delay * 2)
    raise PutError(f"{len(pending)} task instances still unprocessed after {retries} batch writes")


def ensure_instances(
    candidates: Iterable[Candidate],
    source: str,
    *,
    apply: bool = True,
    sample_size: int = 20,
    lease: Lease | None = None,
) -> EnsureResult:
    """Create the candidates that do not exist yet: one consistent batch read per 100 keys, then the
    missing ones. Holding the instance-writer ``lease``: ``BatchWriteItem`` (25 per request) after
    ``lease.ensure()``; without it: one conditional put each. Never overwrites (module docstring)."""
    result = EnsureResult()
    now = utcnow()
    for chunk in batched(candidates, BATCH_GET):
        keys = [(c.task_id, c.date.isoformat()) for c in chunk]
        found = TaskInstance.batch_get(keys, consistent_read=True, attributes_to_get=["task_id", "date"])
        have = {(i.task_id, i.date) for i in found}
        result.checked += len(chunk)
        missing = [c for c in chunk if (c.task_id, c.date.isoformat()) not in have]
        result.existing += len(chunk) - len(missing)
        result.missing += len(missing)
        room = sample_size - len(result.sample)
        result.sample += [{"task_id": c.task_id, "date": c.date.isoformat()} for c in missing[: max(0, room)]]
        if not apply:
            continue
        if lease is not None:
            for batch_items in batched(missing, BATCH_WRITE):
                try:
                    _batch_put([_new_instance(c, source, now) for c in batch_items], lease)
                except LeaseLost as exc:
                    exc.partial = result
                    raise
                result.created += len(batch_items)
            continue
        for c in missing:
            try:
                _new_instance(c, source, now).save(condition=TaskInstance.task_id.does_not_exist())
                result.created += 1
            except PutError as exc:
                if not condition_failed(exc):
                    raise
                result.existing += 1  # another writer created it between our read and our write
    return result


# --- tasks ---------------------------------------------------------------------------------------


def _not_found(task_id: str) -> NotFound:
    return NotFound(f"Task {task_id} does not exist.", code="task_not_found", details={"task_id": task_id})


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
        try:
            student = Student.get(student_id)
        except Student.DoesNotExist as exc:
            raise ValidationFailed(
                f"Student {student_id} does not exist.",
                code="unknown_student",
                details={"fields": {"student_id": "unknown student"}},
            ) from exc
        timezone = timezone or student.timezone
    tz = timezone or "UTC"
    today = recurrence.local_date(tz, now)
    start = starts_on or today
    if ends_on is not None and ends_on < start:
        raise ValidationFailed("ends_on is before starts_on.", details={"fields": {"ends_on": "must be on or after starts_on"}})
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
    first = recurrence.creation_date(recurrence_kind, start, today)
    with transaction() as tx:
        tx.save(task, condition=Task.id.does_not_exist())
        if first is not None:
            series = DAILY if recurrence_kind == DAILY else None
            tx.save(
                _new_instance(Candidate(task.id, first, tz, series), "create", now),
                condition=TaskInstance.task_id.does_not_exist(),
            )
    return task, 1 if first is not None else 0


def get(task_id: str) -> Task:
    try:
        return Task.get(task_id, consistent_read=True)
    except Task.DoesNotExist as exc:
        raise _not_found(task_id) from exc


def list_tasks(limit: int, next_token: str | None, student_id: str | None = None) -> tuple[list[Task], str | None]:
    kw: dict[str, Any] = {"limit": limit, "page_size": limit, "last_evaluated_key": decode_token(next_token)}
    it = Task.by_student.query(student_id, **kw) if student_id else Task.by_kind.query(KIND, **kw)
    return page(it, limit)


def list_instances(
    task_id: str, limit: int, next_token: str | None, from_: date | None = None, to: date | None = None
) -> tuple[list[TaskInstance], str | None]:
    get(task_id)
    cond = None
    if from_ and to:
        cond = TaskInstance.date.between(from_.isoformat(), to.isoformat())
    elif from_:
        cond = TaskInstance.date >= from_.isoformat()
    elif to:
        cond = TaskInstance.date <= to.isoformat()
    it = TaskInstance.query(
        task_id, range_key_condition=cond, limit=limit, page_size=limit, last_evaluated_key=decode_token(next_token)
    )
    return page(it, limit)


def set_instance_status(task_id: str, day: date, status: str, actor_id: str | None) -> TaskInstance:
    """open ↔ done on an existing instance (404 if there is none for that date)."""
    get(task_id)
    now = utcnow()
    actions = [TaskInstance.status.set(status), TaskInstance.updated_at.set(now)]
    if status == DONE:
        actions += [TaskInstance.done_at.set(TaskInstance.done_at | now), TaskInstance.done_by.set(actor_id or "unknown")]
    else:
        actions += [TaskInstance.done_at.remove(), TaskInstance.done_by.remove()]
    inst = TaskInstance(task_id=task_id, date=day.isoformat())
    try:
        inst.update(actions=actions, condition=TaskInstance.task_id.exists())
    except UpdateError as exc:
        if condition_failed(exc):
            raise NotFound(
                f"Task {task_id} has no instance on {day.isoformat()}.",
                code="instance_not_found",
                details={"task_id": task_id, "date": day.isoformat()},
            ) from exc
        raise
    return TaskInstance.get(task_id, day.isoformat(), consistent_read=True)


def _delete_instances(instances: Iterable[TaskInstance]) -> int:
    n = 0
    with TaskInstance.batch_write() as batch:
        for inst in instances:
            batch.delete(TaskInstance(task_id=inst.task_id, date=inst.date))
            n += 1
    return n


def end(task_id: str, now: datetime | None = None) -> tuple[Task, int, bool]:
    """End a task: no more recurrence, future instances removed, past ones kept. Idempotent.

    Returns (task, future_instances_deleted, already_ended)."""
    now = now or utcnow()
    task = get(task_id)
    today = recurrence.local_date(task.timezone, now)
    already = task.deleted_at is not None
    if not already:
        ends = today if not task.ends_on else min(today, date.fromisoformat(task.ends_on))
        try:
            task.update(
                actions=[
                    Task.status.set(ENDED),
                    Task.active_daily.remove(),
                    Task.ends_on.set(ends.isoformat()),
                    Task.deleted_at.set(Task.deleted_at | now),
                    Task.updated_at.set(now),
                ],
                condition=Task.id.exists(),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise _not_found(task_id) from exc
            raise
    future = TaskInstance.query(task_id, range_key_condition=TaskInstance.date > today.isoformat(), consistent_read=True)
    removed = _delete_instances(future)
    return get(task_id), removed, already


# --- the scheduler -------------------------------------------------------------------------------


def _retire(task: Task) -> None:
    """A daily task past its ``ends_on`` leaves the scheduler's index (once; conditional)."""
    try:
        Task(id=task.id).update(
            actions=[Task.active_daily.remove(), Task.status.set(ENDED), Task.updated_at.set(utcnow())],
            condition=Task.active_daily.exists(),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise


def _backfill_finished(lease: Lease) -> bool:
    """A backfill batch (one API request) holds the lease: wait for it rather than come back in an hour.
    Another scheduler run holding it (EventBridge fired twice) is left alone: it does the same work."""
    held = current_lease()
    return held is not None and held.holder == "backfill" and _acquire_within(lease, SCHEDULER_WAIT_S)


def run_scheduler(now: datetime | None = None, page_size: int | None = None) -> dict[str, int]:
    """For every active daily task, ensure the instance for the task's local today exists.

    Takes the instance-writer lease first; if another run (or a backfill) holds it, returns at once
    with ``skipped: 1`` and writes nothing. Pages through the sparse ``by_active_daily`` index (1 MB
    pages unless ``page_size``) and works in chunks of 100 candidates, so memory stays bounded
    whatever the number of tasks. Safe to run any number of times, concurrently.
    """
    now = now or utcnow()
    stats = {"tasks": 0, "due": 0, "created": 0, "existing": 0, "retired": 0, "not_started": 0, "skipped": 0, "lease_lost": 0}
    lease = Lease("scheduler", SCHEDULER_LEASE_S)
    if not lease.acquire() and not _backfill_finished(lease):
        held = current_lease()
        stats["skipped"] = 1
        logger.info(
            "scheduler run skipped: the instance-writer lease is held",
            extra={"lease_holder": held.holder if held else None, "lease_expires_at": held.expires_at if held else None},
        )
        return stats

    def candidates() -> Iterator[Candidate]:
        fields = ["id", "timezone", "starts_on", "ends_on"]
        for task in Task.by_active_daily.query(DAILY, page_size=page_size, attributes_to_get=fields):
            stats["tasks"] += 1
            window = task.window()
            today = recurrence.local_date(task.timezone, now)
            if window.ended_by(today):
                _retire(task)
                stats["retired"] += 1
            elif not window.active_on(today):
                stats["not_started"] += 1
            else:
                stats["due"] += 1
                yield Candidate(task.id, today, task.timezone, DAILY)

    try:
        for chunk in batched(candidates(), BATCH_GET):
            r = ensure_instances(chunk, "scheduler", sample_size=0, lease=lease)
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
    floor = recurrence.earliest_today(now).isoformat()
    it = TaskInstance.by_series.query(
        DAILY,
        range_key_condition=TaskInstance.date > floor,
        limit=limit,
        page_size=limit,
        last_evaluated_key=decode_token(cursor),
    )
    items, next_cursor = page(it, limit)
    matched = [i for i in items if recurrence.is_future(date.fromisoformat(i.date), i.timezone, now)]
    deleted = _delete_instances(matched) if apply else 0
    return {
        "dry_run": not apply,
        "scanned": len(items),
        "matched": len(matched),
        "deleted": deleted,
        "sample": [{"task_id": i.task_id, "date": i.date, "timezone": i.timezone} for i in matched[:sample_size]],
        "next_cursor": next_cursor,
    }


def _acquire_within(lease: Lease, wait_s: float) -> bool:
    deadline = mono_clock() + wait_s
    while not lease.acquire():
        if mono_clock() >= deadline:
            return False
        time.sleep(0.25)
    return True


def _wait_for_lease(holder: str, ttl_s: float, wait_s: float) -> Lease:
    """The instance-writer lease, waiting up to ``wait_s`` for its holder; 409 ``instance_writer_busy`` after."""
    lease = Lease(holder, ttl_s)
    if _acquire_within(lease, wait_s):
        return lease
    held = current_lease()
    retry_after = max(1, int((held.expires_at - wall_clock()) if held else 1))
    raise Conflict(
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
) -> dict[str, Any]:
    """One bounded batch of missed days for daily tasks in [start, end] (never after a task's local
    today, never outside its active range, never for a deleted task); creates them when ``apply``."""
    now = now or utcnow()
    if end_ < start:
        raise ValidationFailed("'to' is before 'from'.", details={"fields": {"to": "must be on or after from"}})
    span = (end_ - start).days + 1
    if span > recurrence.MAX_BACKFILL_DAYS:
        raise ValidationFailed(
            f"The range spans {span} days; at most {recurrence.MAX_BACKFILL_DAYS} per run.",
            details={"fields": {"to": f"range longer than {recurrence.MAX_BACKFILL_DAYS} days"}},
        )
    per_call = max(1, min(limit, MAX_WORK_ITEMS // span))
    if task_id:
        task = get(task_id)
        if task.recurrence != DAILY:
            raise ValidationFailed(f"Task {task_id} is not a daily task.", details={"fields": {"task_id": "not a daily task"}})
        tasks, next_cursor = [task], None
    else:
        it = Task.by_recurrence.query(DAILY, limit=per_call, page_size=per_call, last_evaluated_key=decode_token(cursor))
        tasks, next_cursor = page(it, per_call)
    live = [t for t in tasks if t.deleted_at is None]
    cands = (Candidate(t.id, d, t.timezone, DAILY) for t in live for d in recurrence.backfill_dates(t.window(), start, end_, now))
    if not apply:
        r = ensure_instances(cands, "backfill", apply=False, sample_size=sample_size)
    else:
        lease = _wait_for_lease("backfill", BACKFILL_LEASE_S, BACKFILL_WAIT_S)
        try:
            r = ensure_instances(cands, "backfill", sample_size=sample_size, lease=lease)
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


def task_dict(t: Task) -> dict[str, Any]:
    return {
        "id": t.id,
        "title": t.title,
        "description": t.description,
        "student_id": t.student_id,
        "recurrence": t.recurrence,
        "timezone": t.timezone,
        "starts_on": t.starts_on,
        "ends_on": t.ends_on,
        "status": t.status,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "deleted_at": iso(t.deleted_at),
    }


def instance_dict(i: TaskInstance) -> dict[str, Any]:
    return {
        "task_id": i.task_id,
        "date": i.date,
        "status": i.status,
        "timezone": i.timezone,
        "source": i.source,
        "created_at": iso(i.created_at),
        "updated_at": iso(i.updated_at),
        "done_at": iso(i.done_at),
        "done_by": i.done_by,
    }
