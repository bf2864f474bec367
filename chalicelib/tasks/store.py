"""Tasks and their dated instances: pynamodb models, queries, the instance-writer lease and the
instance writer (no HTTP).

Keys:
- ``tasks``: ``id``. GSIs: ``by_kind`` (every task, creation order), ``by_student``, ``by_recurrence``
  (backfill walks daily tasks) and the sparse ``by_sched_shard`` (``sched_shard`` + ``id``): only tasks
  the scheduler must serve carry ``sched_shard`` (their shard, ``"017"``; ending or deleting a task
  removes it), so each shard's active daily tasks are one key query. Every task carries ``shard``
  (``domain.shard_of(id)``) from its creation. ``by_active_daily`` is the index of before the shards:
  only rows not yet migrated (``academy tasks migrate-shards``) carry ``active_daily``.
- ``task-instances``: ``task_id`` + ``date`` (local ``YYYY-MM-DD``): the deterministic key that makes
  "one instance per task per local day" a property of the table. Sparse GSI ``by_series`` (``series``,
  ``date``) holds only recurring instances: "future instances of recurring tasks" is one range query.

Who creates instances, and why none of them ever overwrites one:
- task creation writes the task and its first instance in one transaction (conditional put). A task
  becomes visible to the scheduler (through its index) only after that commit, and the scheduler's
  existence check is a consistent read, so it always sees the creation's instance.
- the hourly scheduler and ``backfill`` both hold the **instance-writer lease** while they write: a
  row with a reserved key in the ``tasks`` table (not a valid task id, so no route can
  reach it; it carries no indexed attribute, so no list shows it), taken by a conditional update
  (absent or expired) and released at the end. A second scheduler run (EventBridge may fire twice)
  finds it held by a scheduler and returns ``skipped`` without reading or writing (a redelivery of the
  job that holds it takes it over: the job runtime runs one attempt of a job at a time); held by a backfill
  batch (one API request), the scheduler waits for it (``SCHEDULER_WAIT_S``) rather than come back in an
  hour. ``backfill`` waits a few seconds for a scheduler, then answers 409 ``instance_writer_busy``
  (``academy tasks backfill`` waits as told and sends the batch again). (See :mod:`chalicelib.tasks.service`.)
- holding the lease, the scheduler reads existence with consistent ``BatchGetItem`` (100 keys) and
  writes the missing instances with ``BatchWriteItem`` (25 per request, unprocessed items retried with
  back-off). A blind put is safe because nobody else can create one of those keys between the read
  and the write: creators are the two lease holders and task creation (see above); status updates
  need the item to exist. Before every write the holder checks that its lease has at least
  ``LEASE_MARGIN_S`` left by its own monotonic clock (measured from before the acquiring request
  was sent) and renews it otherwise (conditional on still owning it), so a run never writes past
  its lease. The scheduler's lease outlives its Lambda timeout; a crashed run's lease simply expires.
- without the lease (``ensure_instances(..., lease=None)``: the legacy job for rows not yet migrated,
  tests and seeding) every create is a conditional put (``attribute_not_exists``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from itertools import batched
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import IncludeProjection
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, condition_failed, gsi, meta, new_id, query_page, transaction, transition, utcnow
from chalicelib.core.errors import Missing
from chalicelib.tasks.domain import (
    ACTIVE,
    BATCH_GET,
    BATCH_WRITE,
    DAILY,
    DONE,
    ENDED,
    KIND,
    LEASE_MARGIN_S,
    OPEN,
    SYSTEM_CLOCK,
    Candidate,
    Clock,
    EnsureResult,
    TaskWindow,
    lease_id,
    shard_key,
    shard_of,
)


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
    active_daily = UnicodeAttribute(null=True)  # legacy (before the shards): only rows not yet migrated
    shard = NumberAttribute(null=True)  # domain.shard_of(id), written at creation (or by the migration)
    sched_shard = UnicodeAttribute(null=True)  # shard_key(shard) while the scheduler serves the task, else absent
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    deleted_at = UTCDateTime(null=True)
    by_kind = gsi("by_kind", "kind", "id")
    by_student = gsi("by_student", "student_id", "id")
    by_recurrence = gsi(
        "by_recurrence", "recurrence", "id", projection=IncludeProjection(["timezone", "starts_on", "ends_on", "deleted_at"])
    )
    # Sparse: only active daily tasks, one partition per shard. A shard job pages through its own.
    by_sched_shard = gsi(
        "by_sched_shard", "sched_shard", "id", projection=IncludeProjection(["timezone", "starts_on", "ends_on"])
    )
    # Sparse, legacy: active daily tasks written before the shards, until the migration moves them.
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
    """The row per shard (key ``lease_id(shard)``) that makes instance writers of a shard take turns.
    Lives in the tasks table; deliberately not in ``tables.ALL_MODELS`` (same table and key schema as
    ``Task``, and no indexed attribute)."""

    Meta = meta("tasks")
    id = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()  # a fresh id per holder
    holder = UnicodeAttribute()  # "scheduler" | "backfill" | "prune"
    job = UnicodeAttribute(null=True)  # the shard job holding it (its redelivery may take it over)
    expires_at = NumberAttribute()  # epoch seconds
    acquired_at = UTCDateTime()


class SchedulerTally(Model):
    """What one hour's shard jobs did (key ``tally#<hour>``, in the tasks table, no indexed attribute):
    each finished job part adds its numbers once (conditional on its id not in ``parts``)."""

    Meta = meta("tasks")
    id = UnicodeAttribute(hash_key=True)
    jobs = NumberAttribute(null=True)  # shard jobs enqueued for the hour (first parts + continuations)
    parts = UnicodeSetAttribute(null=True)  # "<shard>#<part>" of each job part that reported
    done = NumberAttribute(null=True)
    tasks = NumberAttribute(null=True)
    created = NumberAttribute(null=True)
    existing = NumberAttribute(null=True)
    retired = NumberAttribute(null=True)
    not_started = NumberAttribute(null=True)
    skipped = NumberAttribute(null=True)
    updated_at = UTCDateTime(null=True)


# --- the instance-writer lease --------------------------------------------------------------------


class LeaseLost(Exception):
    """Our lease was taken over (it expired and someone else acquired it): stop writing."""

    partial: EnsureResult | None = None  # what the interrupted ensure_instances call had done


class Lease:
    """An exclusive, expiring lease on writing task instances (see the module docstring)."""

    def __init__(
        self, holder: str, ttl_s: float, clock: Clock = SYSTEM_CLOCK, *, shard: int | str, job: str | None = None
    ) -> None:
        self.holder = holder
        self.ttl_s = ttl_s
        self.clock = clock
        self.shard = shard
        self.key = lease_id(shard)
        self.job = job
        self.owner = new_id()
        self._valid_until = 0.0  # monotonic

    def _set(self, condition: Any) -> bool:
        started = self.clock.mono()
        taken = transition(
            InstanceWriterLease(id=self.key),
            [
                InstanceWriterLease.owner.set(self.owner),
                InstanceWriterLease.holder.set(self.holder),
                InstanceWriterLease.job.set(self.job) if self.job else InstanceWriterLease.job.remove(),
                InstanceWriterLease.expires_at.set(self.clock.wall() + self.ttl_s),
                InstanceWriterLease.acquired_at.set(utcnow()),
            ],
            condition,
        )
        if taken:
            self._valid_until = started + self.ttl_s
        return taken

    def acquire(self) -> bool:
        """Take the lease if nobody holds it, its holder's time is up, or its holder is an earlier attempt
        of this lease's job (a redelivered shard job after a crash: the runtime runs one attempt at a time)."""
        free = InstanceWriterLease.id.does_not_exist() | (InstanceWriterLease.expires_at < self.clock.wall())
        if self.job:
            free = free | (InstanceWriterLease.job == self.job)
        return self._set(free)

    def acquire_within(self, wait_s: float) -> bool:
        """:meth:`acquire`, trying every 0.25 s for up to ``wait_s``."""
        deadline = self.clock.mono() + wait_s
        while not self.acquire():
            if self.clock.mono() >= deadline:
                return False
            time.sleep(0.25)
        return True

    def ensure(self) -> None:
        """Call before every write: renews when less than ``LEASE_MARGIN_S`` is left; LeaseLost if taken."""
        if self.clock.mono() + LEASE_MARGIN_S < self._valid_until:
            return
        if not self._set(InstanceWriterLease.owner == self.owner):
            self._valid_until = 0.0
            raise LeaseLost(f"the instance-writer lease of shard {self.shard} of this {self.holder} run was taken over")

    def release(self) -> None:
        try:
            InstanceWriterLease(id=self.key).delete(condition=InstanceWriterLease.owner == self.owner)
        except DeleteError as exc:
            if not condition_failed(exc):
                raise
        self._valid_until = 0.0


def current_lease(shard: int | str) -> InstanceWriterLease | None:
    try:
        return InstanceWriterLease.get(lease_id(shard), consistent_read=True)
    except InstanceWriterLease.DoesNotExist:
        return None


# --- the instance writer --------------------------------------------------------------------------


def new_instance(c: Candidate, source: str, now: datetime) -> TaskInstance:
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


def batch_put(items: list[TaskInstance], lease: Lease, retries: int = 8) -> None:
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


# How a lease holder writes a batch of instances: ``batch_put`` (tests wrap it to stall a run).
InstanceWriter = Callable[[list[TaskInstance], Lease], None]


def ensure_instances(
    candidates: Iterable[Candidate],
    source: str,
    *,
    apply: bool = True,
    sample_size: int = 20,
    lease: Lease | None = None,
    writer: InstanceWriter = batch_put,
) -> EnsureResult:
    """Create the candidates that do not exist yet: one consistent batch read per 100 keys, then the
    missing ones. Holding the instance-writer ``lease``: ``writer`` (``BatchWriteItem``, 25 per
    request, after ``lease.ensure()``); without it: one conditional put each. Never overwrites."""
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
                    writer([new_instance(c, source, now) for c in batch_items], lease)
                except LeaseLost as exc:
                    exc.partial = result
                    raise
                result.created += len(batch_items)
            continue
        for c in missing:
            try:
                new_instance(c, source, now).save(condition=TaskInstance.task_id.does_not_exist())
                result.created += 1
            except PutError as exc:
                if not condition_failed(exc):
                    raise
                result.existing += 1  # another writer created it between our read and our write
    return result


# --- tasks ---------------------------------------------------------------------------------------


def not_found(task_id: str) -> Missing:
    return Missing(f"Task {task_id} does not exist.", code="task_not_found", details={"task_id": task_id})


def create(task: Task, first: Candidate | None, now: datetime) -> None:
    """Write a task and (if any) its first instance in one transaction."""
    with transaction() as tx:
        tx.save(task, condition=Task.id.does_not_exist())
        if first is not None:
            tx.save(new_instance(first, "create", now), condition=TaskInstance.task_id.does_not_exist())


def get(task_id: str) -> Task:
    try:
        return Task.get(task_id, consistent_read=True)
    except Task.DoesNotExist as exc:
        raise not_found(task_id) from exc


def list_tasks(limit: int, next_token: str | None, student_id: str | None = None) -> tuple[list[Task], str | None]:
    if student_id:
        return query_page(Task.by_student.query, student_id, limit=limit, next_token=next_token)
    return query_page(Task.by_kind.query, KIND, limit=limit, next_token=next_token)


def list_instances(
    task_id: str, limit: int, next_token: str | None, from_: date | None = None, to: date | None = None
) -> tuple[list[TaskInstance], str | None]:
    cond: Condition | None = None
    if from_ and to:
        cond = TaskInstance.date.between(from_.isoformat(), to.isoformat())
    elif from_:
        cond = TaskInstance.date >= from_.isoformat()
    elif to:
        cond = TaskInstance.date <= to.isoformat()
    return query_page(TaskInstance.query, task_id, limit=limit, next_token=next_token, range_key_condition=cond)


def set_instance_status(task_id: str, day: date, status: str, actor_id: str | None) -> TaskInstance:
    """open ↔ done on an existing instance (404 if there is none for that date)."""
    now = utcnow()
    actions = [TaskInstance.status.set(status), TaskInstance.updated_at.set(now)]
    if status == DONE:
        actions += [TaskInstance.done_at.set(TaskInstance.done_at | now), TaskInstance.done_by.set(actor_id or "unknown")]
    else:
        actions += [TaskInstance.done_at.remove(), TaskInstance.done_by.remove()]
    if not transition(TaskInstance(task_id=task_id, date=day.isoformat()), actions, TaskInstance.task_id.exists()):
        raise Missing(
            f"Task {task_id} has no instance on {day.isoformat()}.",
            code="instance_not_found",
            details={"task_id": task_id, "date": day.isoformat()},
        )
    return TaskInstance.get(task_id, day.isoformat(), consistent_read=True)


def delete_instances(instances: Iterable[TaskInstance]) -> int:
    n = 0
    with TaskInstance.batch_write() as batch:
        for inst in instances:
            batch.delete(TaskInstance(task_id=inst.task_id, date=inst.date))
            n += 1
    return n


def mark_ended(task: Task, ends: date, now: datetime) -> None:
    """No more recurrence: the task leaves the scheduler's index, ``ends_on`` set, ``deleted_at`` kept once."""
    ended = transition(
        task,
        [
            Task.status.set(ENDED),
            Task.active_daily.remove(),
            Task.sched_shard.remove(),
            Task.ends_on.set(ends.isoformat()),
            Task.deleted_at.set(Task.deleted_at | now),
            Task.updated_at.set(now),
        ],
        Task.id.exists(),
    )
    if not ended:
        raise not_found(task.id)


def instances_after(task_id: str, day: date) -> Iterator[TaskInstance]:
    """A task's instances dated after ``day`` (consistent)."""
    yield from TaskInstance.query(task_id, range_key_condition=TaskInstance.date > day.isoformat(), consistent_read=True)


def retire(task: Task) -> None:
    """A daily task past its ``ends_on`` leaves the scheduler's indexes (once; conditional)."""
    transition(
        Task(id=task.id),
        [Task.active_daily.remove(), Task.sched_shard.remove(), Task.status.set(ENDED), Task.updated_at.set(utcnow())],
        Task.active_daily.exists() | Task.sched_shard.exists(),
    )


_WINDOW = ["id", "timezone", "starts_on", "ends_on"]


def shard_tasks(shard: int | str, after: str | None = None, page_size: int | None = None) -> Iterator[Task]:
    """The active daily tasks of one shard (its partition of the sparse ``by_sched_shard`` index; the
    ``LEGACY`` shard: the rows still in ``by_active_daily``), in id order after ``after``, in 1 MB pages
    unless ``page_size``; window fields only."""
    cond = Task.id > after if after else None
    if isinstance(shard, str):
        yield from Task.by_active_daily.query(DAILY, range_key_condition=cond, page_size=page_size, attributes_to_get=_WINDOW)
        return
    yield from Task.by_sched_shard.query(
        shard_key(shard), range_key_condition=cond, page_size=page_size, attributes_to_get=_WINDOW
    )


def shard_has_work(shard: int | str) -> bool:
    """Whether a shard has any active daily task: one Query with ``Limit=1`` (keys only)."""
    index = Task.by_active_daily if isinstance(shard, str) else Task.by_sched_shard
    key = DAILY if isinstance(shard, str) else shard_key(shard)
    return any(True for _ in index.query(key, limit=1, attributes_to_get=["id"]))


def scheduling_fields(task: Task, served: bool) -> None:
    """Set a new task's ``shard`` and, when the scheduler must serve it (``served``), ``sched_shard``."""
    task.shard = shard_of(task.id)
    if served:
        task.sched_shard = shard_key(task.shard)


# --- the shard migration -------------------------------------------------------------------------


def tasks_page(limit: int, cursor: str | None) -> tuple[list[Task], str | None]:
    """One page of every task (``by_kind``, creation order): what the shard migration walks."""
    return query_page(Task.by_kind.query, KIND, limit=limit, next_token=cursor)


def needs_migration(task: Task) -> bool:
    """A row written before the shards: no ``shard``, or still in the legacy ``by_active_daily`` index."""
    return task.shard is None or bool(task.active_daily)


def migrate(task: Task) -> bool:
    """Give a task read by :func:`tasks_page` its ``shard`` and move an active daily one from the legacy
    index to its shard's (``sched_shard`` set and ``active_daily`` removed in one conditional update, so
    a task ended meanwhile is not put back). False when the row changed under us (nothing written)."""
    shard = shard_of(task.id)
    actions: list[Any] = [Task.shard.set(shard)]
    if bool(task.active_daily):
        actions += [Task.sched_shard.set(shard_key(shard)), Task.active_daily.remove()]
        return transition(Task(id=task.id), actions, Task.active_daily.exists())
    return transition(Task(id=task.id), actions, Task.id.exists() & Task.shard.does_not_exist())


# --- the hourly run's tally ----------------------------------------------------------------------


def tally_id(hour: str) -> str:
    return f"tally#{hour}"


def tally(hour: str) -> SchedulerTally | None:
    try:
        return SchedulerTally.get(tally_id(hour), consistent_read=True)
    except SchedulerTally.DoesNotExist:
        return None


def count_jobs(hour: str, n: int) -> None:
    """``n`` more shard jobs were enqueued for ``hour`` (only jobs a dispatch created, so a redelivery adds none)."""
    if n:
        SchedulerTally(id=tally_id(hour)).update(actions=[SchedulerTally.jobs.add(n), SchedulerTally.updated_at.set(utcnow())])


def record_part(hour: str, part: str, stats: dict[str, int]) -> bool:
    """Add one finished job part's numbers to the hour's tally, once (False: that part reported already)."""
    actions: list[Any] = [SchedulerTally.parts.add({part}), SchedulerTally.done.add(1), SchedulerTally.updated_at.set(utcnow())]
    for name in ("tasks", "created", "existing", "retired", "not_started", "skipped"):
        if stats.get(name):
            actions.append(getattr(SchedulerTally, name).add(int(stats[name])))
    try:
        SchedulerTally(id=tally_id(hour)).update(actions=actions, condition=~SchedulerTally.parts.contains(part))
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def forget_tally(hour: str) -> None:
    SchedulerTally(id=tally_id(hour)).delete()


def recurring_after(floor: date, limit: int, cursor: str | None) -> tuple[list[TaskInstance], str | None]:
    """One page of instances of recurring tasks dated after ``floor`` (the sparse ``by_series`` index)."""
    return query_page(
        TaskInstance.by_series.query,
        DAILY,
        limit=limit,
        next_token=cursor,
        range_key_condition=TaskInstance.date > floor.isoformat(),
    )


def daily_tasks(limit: int, cursor: str | None) -> tuple[list[Task], str | None]:
    """One page of daily tasks (``by_recurrence``, creation order)."""
    return query_page(Task.by_recurrence.query, DAILY, limit=limit, next_token=cursor)


def tasks_of_student(student_id: str, limit: int) -> tuple[list[Task], bool]:
    """Up to ``limit`` of a student's tasks (``by_student``, creation order) and whether there were more."""
    tasks = list(Task.by_student.query(student_id, limit=limit + 1))
    return tasks[:limit], len(tasks) > limit


def instances_between(task_id: str, start: date, end: date) -> list[TaskInstance]:
    """A task's instances dated ``start``..``end`` inclusive, newest first (one key query)."""
    cond = TaskInstance.date.between(start.isoformat(), end.isoformat())
    return list(TaskInstance.query(task_id, range_key_condition=cond, scan_index_forward=False))
