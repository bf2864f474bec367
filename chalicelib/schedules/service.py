"""Schedules: the use cases — create, record attendance, the cascade delete (inline or by job), seeding."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date, datetime
from itertools import batched
from typing import TYPE_CHECKING, Any

from chalicelib.core.db import utcnow
from chalicelib.core.errors import Conflicting, Invalid
from chalicelib.schedules import store
from chalicelib.schedules.domain import ACTIVE, DELETING, INLINE_DELETE_MAX, RETRIES, DeleteTuning, ScheduleTimes
from chalicelib.schedules.store import Attendance, Schedule
from chalicelib.students import store as students

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext


def create(title: str, student_ids: list[str], times: ScheduleTimes) -> Schedule:
    """Create a schedule and its membership items in one transaction. Unknown students → 400;
    archived ones → 409 ``archived_students`` (restore them first)."""
    unique = list(dict.fromkeys(student_ids))
    found = students.active_by_id(unique)
    missing = [s for s in unique if s not in found]
    if missing:
        raise Invalid(
            f"Unknown students: {', '.join(missing)}.",
            code="unknown_students",
            details={"fields": {"student_ids": f"unknown: {', '.join(missing)}"}, "unknown": missing},
        )
    archived = [s for s in unique if not found[s]]
    if archived:
        raise Conflicting(
            f"Archived students cannot join a schedule: {', '.join(archived)}.",
            code="archived_students",
            details={"archived": archived},
        )
    return store.create(title, unique, times)


def list_attendance(
    schedule_id: str, limit: int, next_token: str | None, from_: date | None = None, to: date | None = None
) -> tuple[list[Attendance], str | None]:
    """A live schedule's attendance, by date then student."""
    store.get(schedule_id)
    return store.list_attendance(schedule_id, limit, next_token, from_, to)


def put_attendance(
    schedule_id: str, day: date, student_id: str, status: str, note: str | None, actor_id: str | None
) -> Attendance:
    """Upsert one attendance record. The write is refused unless the schedule is live at commit time."""
    schedule = store.find(schedule_id)
    if schedule is None:
        raise store.not_found(schedule_id)
    if schedule.state != ACTIVE:
        raise store.deleting(schedule_id)
    if student_id not in schedule.member_ids():
        raise Invalid(
            f"Student {student_id} is not on schedule {schedule_id}.",
            code="student_not_on_schedule",
            details={"fields": {"student_id": "not on this schedule"}, "student_id": student_id},
        )
    if not schedule.times().occurs_on(day):
        raise Invalid(
            f"Schedule {schedule_id} has no session on {day.isoformat()}.",
            code="not_a_session_date",
            details={"fields": {"date": "no session of this schedule on this date"}, "date": day.isoformat()},
        )
    return store.write_attendance(schedule_id, day, student_id, status, note, actor_id)


def bulk_put_attendance(schedule: Schedule, records: Iterable[tuple[date, str, str]], now: datetime | None = None) -> int:
    """Seed attendance directly (demo data, tests, benchmarks): no per-record transaction."""
    return store.put_attendance_records(schedule.id, records, now or utcnow(), "seed")


# --- delete ----------------------------------------------------------------------------------------


def delete(schedule_id: str) -> dict[str, Any]:
    """Delete a schedule and all its attendance.

    ≤ 99 records: one transaction (attendance deletes + the schedule's delete conditioned on the
    ``rev`` read) → ``{"deleted": True, "attendance_deleted": n}``. More: a resumable job →
    ``{"status": "deleting", "job_id": ...}`` (the same job for a repeated request while it runs).
    """
    for attempt in range(RETRIES):
        schedule = store.find(schedule_id)
        if schedule is None:
            raise store.not_found(schedule_id)
        if schedule.state == DELETING:
            return _delete_async(schedule)
        keys = store.attendance_keys(schedule_id, INLINE_DELETE_MAX + 1)
        if len(keys) > INLINE_DELETE_MAX:
            return _delete_async(schedule)
        if store.delete_at_rev(schedule, keys):
            store.delete_members(schedule_id, schedule.member_ids())
            return {"deleted": True, "attendance_deleted": len(keys)}
        time.sleep(0.01 * attempt)  # an attendance write or another delete got in first: look again
    raise store.busy(schedule_id)


def _delete_async(schedule: Schedule) -> dict[str, Any]:
    """Dispatch (or find) the delete job first, then hide the schedule; the job hides it too, so a
    crash between the two steps still ends with the schedule gone."""
    from chalicelib.jobs import dispatch as jobs_dispatch
    from chalicelib.jobs import ledger, states

    job, created = jobs_dispatch.dispatch(
        "delete_schedule",
        {"schedule_id": schedule.id},
        entity={"type": "schedule", "id": schedule.id},
        dedupe_key=f"delete_schedule:{schedule.id}",
    )
    if not created and job.state in (states.FAILED, states.CANCELLED):
        requeued = ledger.requeue(job.job_id, (states.FAILED, states.CANCELLED))
        if requeued is not None:
            jobs_dispatch.send(requeued)
            job = requeued
    if not store.mark_deleting(schedule.id, job.job_id) and job.state == states.SUCCEEDED:
        raise store.not_found(schedule.id)
    return {"status": DELETING, "job_id": job.job_id}


def run_delete_job(job: Job, ctx: JobContext, tuning: DeleteTuning | None = None) -> dict[str, Any]:
    """The ``delete_schedule`` job: resumable and idempotent.

    Marks the schedule deleting (from then on every attendance write fails), then walks the
    partition's keys in 1 MB pages (consistent, keys only) deleting them in 25-item batches, and walks
    again until a pass finds nothing. Nothing is remembered between attempts: a retry after a crash
    re-reads what is left. Between chunks of ``tuning.chunk`` keys: ``tuning.after_chunk``, a
    heartbeat when ``tuning.heartbeat_every_s`` have passed, and the time-budget check.
    """
    from chalicelib.jobs.errors import PermanentJobError, TransientJobError

    tuning = tuning or DeleteTuning()
    schedule_id = (job.payload or {}).get("schedule_id")
    if not isinstance(schedule_id, str) or not schedule_id:
        raise PermanentJobError("payload has no schedule_id")
    store.mark_deleting(schedule_id, job.job_id)
    deleted = 0
    last_beat = time.monotonic()
    while True:
        found = 0
        for keys in batched(store.all_attendance_keys(schedule_id), tuning.chunk):
            store.delete_attendance(schedule_id, keys)
            found += len(keys)
            deleted += len(keys)
            tuning.after_chunk(deleted)
            if time.monotonic() - last_beat >= tuning.heartbeat_every_s:
                ctx.heartbeat()
                last_beat = time.monotonic()
            if ctx.remaining_ms() < tuning.min_remaining_ms:
                raise TransientJobError(f"time budget spent after {deleted} records; the next attempt resumes")
        if not found:
            break
    schedule = store.find(schedule_id)
    if schedule is not None:
        store.delete_members(schedule_id, schedule.member_ids())
        store.delete_deleting(schedule)
    return {"schedule_id": schedule_id, "attendance_deleted": deleted}
