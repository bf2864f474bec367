"""Tasks: the use cases — create, end, mark an instance, the hourly scheduler run, prune and backfill.

Who writes instances, and how the writers take turns, is told in :mod:`chalicelib.tasks.store`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import batched
from typing import TYPE_CHECKING, Any

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
    LEGACY,
    MAX_BACKFILL_DAYS,
    MAX_WORK_ITEMS,
    SCHEDULER_LEASE_S,
    SCHEDULER_WAIT_S,
    SHARD_JOB_BUDGET_S,
    SHARD_JOB_ITEMS,
    SHARD_JOB_MIN_REMAINING_MS,
    SHARDS,
    SYSTEM_CLOCK,
    Candidate,
    Clock,
    EnsureResult,
)
from chalicelib.tasks.store import InstanceWriter, Lease, LeaseLost, Task, TaskInstance

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext


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
    store.scheduling_fields(task, served=recurrence_kind == DAILY and not task.window().ended_by(today))
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


# --- the scheduler: the hourly fan-out and the shard jobs ----------------------------------------

SHARD_JOB = "tasks.shard_instances"
Shard = int | str  # 0..SHARDS-1, or domain.LEGACY


@dataclass(frozen=True)
class Budget:
    """How much one shard job may do before it hands the rest of its shard to a continuation job."""

    max_items: int = SHARD_JOB_ITEMS
    max_s: float = SHARD_JOB_BUDGET_S
    remaining_ms: Callable[[], int] | None = None  # the invocation's time left (a job's ``ctx.remaining_ms``)
    min_remaining_ms: int = SHARD_JOB_MIN_REMAINING_MS


UNBOUNDED = Budget(max_items=10**12, max_s=float("inf"))


@dataclass
class ShardRun:
    """What one run over (part of) a shard did; ``after`` is where a continuation resumes (None: done)."""

    stats: dict[str, int]
    after: str | None = None
    held_by: str | None = None  # who held the shard's lease when the run gave up on it


def _stats() -> dict[str, int]:
    return {"tasks": 0, "due": 0, "created": 0, "existing": 0, "retired": 0, "not_started": 0, "skipped": 0, "lease_lost": 0}


def _take_shard_lease(shard: Shard, job_id: str | None, timings: Timings) -> tuple[Lease | None, str | None]:
    """The shard's instance-writer lease (None for the legacy shard: it writes with conditional puts).
    Held by a backfill or prune batch: wait for it; by another scheduler run: give up (it does the same
    work). Returns (lease, None) or (None, holder)."""
    if isinstance(shard, str):
        return None, None
    lease = Lease("scheduler", SCHEDULER_LEASE_S, timings.clock, shard=shard, job=job_id)
    if lease.acquire():
        return lease, None
    held = store.current_lease(shard)  # None: released since our attempt; try again
    if (held is None or held.holder != "scheduler") and lease.acquire_within(timings.scheduler_wait_s):
        return lease, None
    held = store.current_lease(shard)
    return None, held.holder if held else "unknown"


def run_shard(
    shard: Shard,
    now: datetime | None = None,
    *,
    after: str | None = None,
    budget: Budget = UNBOUNDED,
    page_size: int | None = None,
    job_id: str | None = None,
    timings: Timings | None = None,
    writer: InstanceWriter = store.batch_put,
) -> ShardRun:
    """Ensure today's instance (in each task's zone) of every active daily task of one shard, after
    task id ``after``, holding the shard's instance-writer lease.

    Reads the shard's partition of the sparse index in id order and works in groups of 100 tasks
    (one consistent batch read, the missing ones in batch writes of 25). Past ``budget`` it stops
    after a whole group and returns the last task id done as ``after``: a continuation resumes there.
    A run that dies half-way and runs again (the same ``job_id``: it takes over its own lease) finds
    what it wrote and writes only the rest. The lease held by another scheduler run → ``skipped``."""
    now = now or utcnow()
    timings = timings or TIMINGS
    stats = _stats()
    lease, holder = _take_shard_lease(shard, job_id, timings)
    if lease is None and holder is not None:
        stats["skipped"] = 1
        logger.info("shard skipped: its instance-writer lease is held", extra={"shard": shard, "lease_holder": holder})
        return ShardRun(stats, after, holder)
    started = timings.clock.mono()

    def over_budget() -> bool:
        if stats["tasks"] >= budget.max_items or timings.clock.mono() - started >= budget.max_s:
            return True
        return budget.remaining_ms is not None and budget.remaining_ms() < budget.min_remaining_ms

    groups = batched(store.shard_tasks(shard, after, page_size), BATCH_GET)
    last = after
    try:
        for group in groups:
            cands: list[Candidate] = []
            for task in group:
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
                    cands.append(Candidate(task.id, today, task.timezone, DAILY))
            r = store.ensure_instances(cands, "scheduler", sample_size=0, lease=lease, writer=writer)
            stats["created"] += r.created
            stats["existing"] += r.existing
            last = group[-1].id
            if over_budget():
                more = next(groups, None) is not None  # a peek: the rest of the page is in memory
                return ShardRun(stats, last if more else None)
    except LeaseLost as exc:
        stats["lease_lost"] = 1
        if exc.partial is not None:
            stats["created"] += exc.partial.created
            stats["existing"] += exc.partial.existing
        logger.warning("shard run stopped: its lease was taken over", extra={"shard": shard, "scheduler": stats})
        return ShardRun(stats, None, "scheduler")
    finally:
        if lease is not None:
            lease.release()
    return ShardRun(stats, None)


def shards() -> list[Shard]:
    """Every shard the hourly run looks at: 0..SHARDS-1 and the legacy rows not yet migrated."""
    return [*range(SHARDS), LEGACY]


def _hour(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H")


def _part_key(hour: str, shard: Shard, part: int) -> str:
    return f"{SHARD_JOB}#{hour}#{shard}#{part}"


def _dispatch_part(hour: str, shard: Shard, part: int, after: str | None) -> bool:
    """Enqueue one shard job part (once per (hour, shard, part): the dedupe key). True if it is new."""
    from chalicelib.jobs.dispatch import dispatch

    payload = {"hour": hour, "shard": shard, "part": part, "after": after}
    _, created = dispatch(
        SHARD_JOB, payload, entity={"type": "task_shard", "id": str(shard)}, dedupe_key=_part_key(hour, shard, part)
    )
    return created


def fan_out(now: datetime | None = None) -> dict[str, int]:
    """The hourly run (``now``: its scheduled time): one ``tasks.shard_instances`` job per shard that
    has work (a ``Limit=1`` query per shard), deduplicated per (hour, shard), so a second EventBridge
    delivery enqueues nothing.

    Returns this hour's ``shards`` (with work), ``enqueued`` (new jobs) and ``deduplicated``, and the
    previous hour's tally (what its shard jobs did, as they finished): ``created``, ``existing``,
    ``retired``, ``tasks``, ``jobs`` and ``jobs_pending`` (jobs that had not reported)."""
    now = now or utcnow()
    hour = _hour(now)
    out = {"shards": 0, "enqueued": 0, "deduplicated": 0, "legacy": 0}
    for shard in shards():
        if not store.shard_has_work(shard):
            continue
        out["shards"] += 1
        out["legacy"] += int(isinstance(shard, str))
        if _dispatch_part(hour, shard, 0, None):
            out["enqueued"] += 1
        else:
            out["deduplicated"] += 1
    store.count_jobs(hour, out["enqueued"])
    prev = store.tally(_hour(now - timedelta(hours=1)))
    for name in ("created", "existing", "retired", "tasks", "jobs"):
        out[name] = int(getattr(prev, name, None) or 0) if prev else 0
    out["jobs_pending"] = max(0, out["jobs"] - int(prev.done or 0)) if prev else 0
    if out["jobs_pending"]:
        logger.warning("shard jobs of the previous hour have not all reported", extra={"scheduler": out})
    try:
        store.forget_tally(_hour(now - timedelta(hours=2)))
    except Exception:  # noqa: BLE001 - an old tally row left behind harms nothing
        logger.warning("could not remove an old scheduler tally", exc_info=True)
    return out


def run_shard_job(
    job: Job, ctx: JobContext, budget: Budget | None = None, writer: InstanceWriter = store.batch_put
) -> dict[str, Any]:
    """The ``tasks.shard_instances`` job: one bounded part of one shard (see :func:`run_shard`).

    Over its budget, it enqueues the next part (dedupe key per (hour, shard, part): a redelivery of this
    part enqueues it once) with the cursor, and reports its numbers to the hour's tally (once per part)."""
    from chalicelib.jobs.errors import PermanentJobError, TransientJobError

    p = job.payload or {}
    hour, shard, part, after = p.get("hour"), p.get("shard"), p.get("part", 0), p.get("after")
    valid_shard = (isinstance(shard, int) and 0 <= shard < SHARDS) or shard == LEGACY
    if not isinstance(hour, str) or not valid_shard or not isinstance(part, int) or not (after is None or isinstance(after, str)):
        raise PermanentJobError(f"bad shard job payload: {p!r}")
    assert isinstance(shard, int | str)
    bounded = replace(budget or Budget(), remaining_ms=ctx.remaining_ms)
    run = run_shard(shard, after=after, budget=bounded, job_id=job.job_id, writer=writer)
    if run.held_by not in (None, "scheduler"):
        raise TransientJobError(f"shard {shard}: the instance-writer lease is held by a {run.held_by}; retrying later")
    result: dict[str, Any] = {**run.stats, "shard": shard, "part": part}
    if run.after is not None:
        if _dispatch_part(hour, shard, part + 1, run.after):
            store.count_jobs(hour, 1)
        result["continued_after"] = run.after
    store.record_part(hour, f"{shard}#{part}", run.stats)
    return result


def run_scheduler(
    now: datetime | None = None,
    page_size: int | None = None,
    *,
    timings: Timings | None = None,
    writer: InstanceWriter = store.batch_put,
) -> dict[str, int]:
    """Every shard with work, one after the other in this process, unbounded (seeding, tests and the
    benchmarks; the hourly function fans out instead). Sums the shards' numbers; ``skipped`` counts
    shards whose lease another run held."""
    now = now or utcnow()
    total = _stats()
    for shard in shards():
        if not store.shard_has_work(shard):
            continue
        run = run_shard(shard, now, page_size=page_size, timings=timings, writer=writer)
        for k, v in run.stats.items():
            total[k] += v
    return total


# --- operator repairs ----------------------------------------------------------------------------


def prune_future(
    apply: bool,
    cursor: str | None,
    limit: int,
    now: datetime | None = None,
    sample_size: int = 20,
    timings: Timings | None = None,
) -> dict[str, Any]:
    """One bounded batch of "instances of recurring tasks dated after the task's local today".

    Reads at most ``limit`` index entries from the sparse ``by_series`` index (dates after the
    earliest local today on Earth), keeps those after their own zone's today, and deletes them
    when ``apply``, shard by shard under each shard's instance-writer lease. ``next_cursor``
    continues; ``None`` means done.
    """
    now = now or utcnow()
    timings = timings or TIMINGS
    items, next_cursor = store.recurring_after(domain.earliest_today(now), limit, cursor)
    matched = [i for i in items if domain.is_future(date.fromisoformat(i.date), i.timezone, now)]
    deleted = 0
    if apply:
        for shard, group in _by_shard(matched, lambda i: i.task_id).items():
            lease = _wait_for_lease("prune", BACKFILL_LEASE_S, timings.backfill_wait_s, timings.clock, shard)
            try:
                lease.ensure()
                deleted += store.delete_instances(group)
            finally:
                lease.release()
    return {
        "dry_run": not apply,
        "scanned": len(items),
        "matched": len(matched),
        "deleted": deleted,
        "sample": [{"task_id": i.task_id, "date": i.date, "timezone": i.timezone} for i in matched[:sample_size]],
        "next_cursor": next_cursor,
    }


def _by_shard[T](items: Iterable[T], task_id: Callable[[T], str]) -> dict[int, list[T]]:
    """Items grouped by their task's shard, in shard order (writers take shard leases in one order)."""
    groups: dict[int, list[T]] = {}
    for item in items:
        groups.setdefault(domain.shard_of(task_id(item)), []).append(item)
    return dict(sorted(groups.items()))


def migrate_shards(apply: bool, cursor: str | None, limit: int, sample_size: int = 20) -> dict[str, Any]:
    """One bounded batch of the shard migration: tasks written before the shards get their ``shard``,
    and active daily ones move from the legacy ``by_active_daily`` index to their shard's
    (``by_sched_shard``). Walks every task (``by_kind``) from ``cursor``; a dry run writes nothing; a row
    already migrated is left alone, so running it twice writes nothing the second time."""
    tasks, next_cursor = store.tasks_page(limit, cursor)
    todo = [t for t in tasks if store.needs_migration(t)]
    migrated = sum(1 for t in todo if store.migrate(t)) if apply else 0
    return {
        "dry_run": not apply,
        "scanned": len(tasks),
        "matched": len(todo),
        "migrated": migrated,
        "sample": [
            {"task_id": t.id, "shard": domain.shard_of(t.id), "legacy_index": bool(t.active_daily)} for t in todo[:sample_size]
        ],
        "next_cursor": next_cursor,
    }


def _wait_for_lease(holder: str, ttl_s: float, wait_s: float, clock: Clock, shard: int) -> Lease:
    """A shard's instance-writer lease, waiting up to ``wait_s`` for its holder; 409 ``instance_writer_busy`` after."""
    lease = Lease(holder, ttl_s, clock, shard=shard)
    if lease.acquire_within(wait_s):
        return lease
    held = store.current_lease(shard)
    retry_after = max(1, int((held.expires_at - clock.wall()) if held else 1))
    raise Conflicting(
        "Task instances are being written by another run (the hourly scheduler or a backfill); try again shortly.",
        code="instance_writer_busy",
        details={"holder": held.holder if held else None, "retry_after_s": retry_after, "shard": shard},
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
    else:  # shard by shard, each under its shard's lease (one task: its task's shard)
        r = EnsureResult()
        for shard, group in _by_shard(cands, lambda c: c.task_id).items():
            lease = _wait_for_lease("backfill", BACKFILL_LEASE_S, timings.backfill_wait_s, timings.clock, shard)
            try:
                r.add(store.ensure_instances(group, "backfill", sample_size=sample_size, lease=lease), sample_size)
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
