"""Schedules: the use cases — create, record attendance, the cascade delete (inline or by job), seeding."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from itertools import batched
from typing import TYPE_CHECKING, Any

from chalicelib.core.calendar import days as calendar_days
from chalicelib.core.calendar import local_date, utc
from chalicelib.core.db import utcnow
from chalicelib.core.errors import Conflicting, Invalid, Missing
from chalicelib.schedules import store
from chalicelib.schedules.domain import (
    ACTIVE,
    CANCEL,
    CANCELLED,
    DELETING,
    INLINE_DELETE_MAX,
    MAX_LESSON_RANGE_DAYS,
    ORPHAN_LIST_CAP,
    RETRIES,
    WEEKLY,
    DeleteTuning,
    Lesson,
    ScheduleTimes,
    attendance_key,
    is_occurrence,
    lesson,
    moved_exception,
    occurrences,
    orphaned,
)
from chalicelib.schedules.store import Attendance, Schedule
from chalicelib.students import store as students

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext


def _check_students(unique: list[str]) -> None:
    """Unknown students → 400 ``unknown_students``; archived ones → 409 ``archived_students``."""
    if not unique:
        return
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


def create(title: str, student_ids: list[str], times: ScheduleTimes) -> Schedule:
    """Create a schedule and its membership items in one transaction. Unknown students → 400;
    archived ones → 409 ``archived_students`` (restore them first)."""
    unique = list(dict.fromkeys(student_ids))
    _check_students(unique)
    return store.create(title, unique, times)


def _edited_times(schedule: Schedule, changes: dict[str, Any]) -> ScheduleTimes:
    old = schedule.times()
    starts_at = utc(changes["starts_at"]) if "starts_at" in changes else old.starts_at
    ends_at = utc(changes["ends_at"]) if "ends_at" in changes else old.ends_at
    until = changes["until"] if "until" in changes else old.until
    times = ScheduleTimes(starts_at, ends_at, old.recurrence, until, old.timezone)
    fields: dict[str, str] = {}
    if ends_at <= starts_at:
        fields["ends_at"] = "must be after starts_at"
    if until is not None and old.recurrence != WEEKLY:
        fields["until"] = "only for weekly schedules"
    elif until is not None and until < times.first_date():
        fields["until"] = "is before the first session"
    if fields:
        raise Invalid("The edited schedule is not valid.", details={"fields": fields})
    return times


def update(schedule_id: str, rev: int, changes: dict[str, Any], *, confirm: bool = False) -> tuple[Schedule, int]:
    """Edit a schedule at ``rev`` → (the schedule, attendance records deleted).

    Stale ``rev`` → 409 ``stale_revision``; new students must exist (400) and be active (409
    ``archived_students``; archived members may stay). Attendance the edit would orphan (its student
    leaves, its date stops being a session) → 409 ``would_orphan_attendance`` naming the records,
    unless ``confirm`` (they are deleted in the edit's transaction). The commit is conditioned on ``rev``
    and every attendance write bumps it, so a record written after the orphan check fails the edit (409).
    """
    schedule = store.get(schedule_id)
    if int(schedule.rev or 0) != rev:
        raise store.stale(schedule_id, rev, int(schedule.rev or 0))
    title = changes.get("title") or schedule.title
    member_ids = list(dict.fromkeys(changes["student_ids"])) if "student_ids" in changes else schedule.member_ids()
    _check_students([sid for sid in member_ids if sid not in schedule.member_ids()])
    times = _edited_times(schedule, changes)
    orphans = orphaned(store.all_attendance_keys(schedule_id), times, member_ids)
    if orphans and not confirm:
        raise Conflicting(
            f"This edit would orphan {len(orphans)} attendance record(s); confirm to delete them, or keep them.",
            code="would_orphan_attendance",
            details={
                "schedule_id": schedule_id,
                "count": len(orphans),
                "records": [{"date": d.isoformat(), "student_id": sid} for d, sid in orphans[:ORPHAN_LIST_CAP]],
            },
        )
    drop = [attendance_key(d, sid) for d, sid in orphans]
    return store.update(schedule, rev, title, member_ids, times, drop), len(drop)


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
    _check_lesson(schedule, day)
    return store.write_attendance(schedule_id, day, student_id, status, note, actor_id)


def _not_a_session(schedule_id: str, day: date) -> Invalid:
    return Invalid(
        f"Schedule {schedule_id} has no session on {day.isoformat()}.",
        code="not_a_session_date",
        details={"fields": {"date": "no session of this schedule on this date"}, "date": day.isoformat()},
    )


def _check_lesson(schedule: Schedule, day: date) -> None:
    """Attendance can be recorded on ``day``: a session date (400) that is not cancelled (409; the write's
    condition is the guard, this only answers early)."""
    if not schedule.times().occurs_on(day):
        raise _not_a_session(schedule.id, day)
    if schedule.exception_map().get(day.isoformat(), {}).get("action") == CANCEL:
        raise store.lesson_cancelled(schedule.id, day)
    if closures_on([day]):
        raise store.lesson_cancelled(schedule.id, day, closed=True)


# --- exceptions and lessons ---------------------------------------------------------------------------


def closures_on(days: list[date]) -> dict[date, str]:
    """The academy-wide closures covering ``days``: date → reason (batch reads by key)."""
    return {d: c.reason for d, c in store.closed_days(days).items()}


def create_closure(from_: date, to: date, reason: str, actor_id: str | None) -> store.Closure:
    """Close the academy on every day of [from_, to] (≤ 92 days): every lesson on them reads cancelled and
    attendance is refused. Attendance already recorded on those days is kept (it is history)."""
    if to < from_:
        raise Invalid("'to' is before 'from'.", details={"fields": {"to": "must be on or after from"}})
    n = (to - from_).days + 1
    if n > MAX_LESSON_RANGE_DAYS:
        raise Invalid(
            f"A closure covers at most {MAX_LESSON_RANGE_DAYS} days (this one {n}); split it.",
            details={"fields": {"to": f"at most {MAX_LESSON_RANGE_DAYS} days after from"}},
        )
    return store.create_closure(list(calendar_days(from_, to)), reason, actor_id)


def delete_closure(closure_id: str) -> store.Closure:
    closure = store.get_closure(closure_id)
    days = list(calendar_days(date.fromisoformat(closure.starts_on), date.fromisoformat(closure.ends_on)))
    store.delete_closure(closure, days)
    return closure


def zones(student_ids: list[str]) -> dict[str, str]:
    """Each student's time zone (one batch read; a student gone meanwhile reads as UTC)."""
    if not student_ids:
        return {}
    found = students.Student.batch_get(list(dict.fromkeys(student_ids)), attributes_to_get=["id", "timezone"])
    return {s.id: s.timezone or "UTC" for s in found}


DEFAULT_LESSON_DAYS = 28


def lesson_range(from_: date | None, to: date | None, today: date) -> tuple[date, date]:
    """A lesson read's [from, to]: defaults today .. +27 days; to before from, or more than 92 days → 400."""
    start = from_ or (to - timedelta(days=DEFAULT_LESSON_DAYS - 1) if to else today)
    end = to or start + timedelta(days=DEFAULT_LESSON_DAYS - 1)
    if end < start:
        raise Invalid("'to' is before 'from'.", details={"fields": {"query.to": "must be on or after from"}})
    if (end - start).days + 1 > MAX_LESSON_RANGE_DAYS:
        raise Invalid(
            f"A lesson read covers at most {MAX_LESSON_RANGE_DAYS} days.",
            code="range_too_long",
            details={"fields": {"query.to": f"at most {MAX_LESSON_RANGE_DAYS} days after from"}},
        )
    return start, end


def lessons(schedule: Schedule, from_: date, to: date, closed: dict[date, str] | None = None) -> list[Lesson]:
    """The schedule's lessons in [from_, to] with their exceptions and the closures (read unless given) applied."""
    times = schedule.times()
    dates = occurrences(times, from_, to)
    exceptions = schedule.exception_map()
    if closed is None:
        closed = closures_on(dates)
    return [lesson(times, d, exceptions.get(d.isoformat()), closed.get(d)) for d in dates]


def set_exception(schedule_id: str, day: date, action: str, reason: str | None, to_time: datetime | None) -> tuple[Schedule, int]:
    """Cancel or move one occurrence → (the schedule, attendance records marked ``cancelled``).

    A date that is not a session → 400. Cancelling a date with attendance marks those records
    ``cancelled`` in the same transaction, conditioned on the ``rev`` read: an attendance write that
    commits first makes it retry (and mark that record too); one that commits after is refused."""
    for attempt in range(RETRIES):
        schedule = store.get(schedule_id)
        times = schedule.times()
        if not is_occurrence(times, day):
            raise _not_a_session(schedule_id, day)
        exceptions = schedule.exception_map()
        keys: list[str] = []
        if action == CANCEL:
            exceptions[day.isoformat()] = {"action": CANCEL, **({"reason": reason} if reason else {})}
            keys = [a.key for a in store.attendance_on(schedule_id, day) if a.status != CANCELLED]
        else:
            assert to_time is not None  # the schema requires it for a move
            exceptions[day.isoformat()] = moved_exception(times, utc(to_time), reason)
        if store.set_exceptions(schedule, exceptions, keys):
            return store.get(schedule_id), len(keys)
        time.sleep(0.01 * attempt)
    raise store.busy(schedule_id)


def delete_exception(schedule_id: str, day: date) -> Schedule:
    """Undo one date's exception (404 ``exception_not_found`` when it has none). Records marked
    ``cancelled`` by the cancel stay so; record the lesson's attendance again."""
    for attempt in range(RETRIES):
        schedule = store.get(schedule_id)
        exceptions = schedule.exception_map()
        if exceptions.pop(day.isoformat(), None) is None:
            raise Missing(
                f"Schedule {schedule_id} has no exception on {day.isoformat()}.",
                code="exception_not_found",
                details={"schedule_id": schedule_id, "date": day.isoformat()},
            )
        if store.set_exceptions(schedule, exceptions):
            return store.get(schedule_id)
        time.sleep(0.01 * attempt)
    raise store.busy(schedule_id)


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
        if store.count_attendance(schedule_id, INLINE_DELETE_MAX + 1) > INLINE_DELETE_MAX:
            return _delete_async(schedule)  # decided on a count: the job reads the keys itself
        keys = store.attendance_keys(schedule_id, INLINE_DELETE_MAX + 1)
        if len(keys) > INLINE_DELETE_MAX:  # written since the count
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

    Marks the schedule deleting unless the request already did (from then on every attendance write
    fails and the schedule's members cannot change), then walks the
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
    schedule = store.find(schedule_id)
    settled = schedule is not None and schedule.state == DELETING  # marked (by the request): nothing about it changes now
    if schedule is not None and not settled and not store.mark_deleting(schedule_id, job.job_id):
        schedule = None  # gone meanwhile
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
    if schedule is not None and not settled:
        schedule = store.find(schedule_id)  # marked by this job just now: read its members as marked
    if schedule is not None:
        store.delete_members(schedule_id, schedule.member_ids())
        store.delete_deleting(schedule)
    return {"schedule_id": schedule_id, "attendance_deleted": deleted}


# --- attendance of a lesson, reports -------------------------------------------------------------------


def put_lesson_attendance(
    schedule_id: str, day: date, records: list[tuple[str, str, str | None]], actor_id: str | None
) -> list[Attendance]:
    """Record the attendance of one lesson (some or all of its students) in one transaction → the
    lesson's records. Students not on the schedule → 400; a cancelled or closed lesson → 409."""
    schedule = store.find(schedule_id)
    if schedule is None:
        raise store.not_found(schedule_id)
    if schedule.state != ACTIVE:
        raise store.deleting(schedule_id)
    strangers = [sid for sid, _, _ in records if sid not in schedule.member_ids()]
    if strangers:
        raise Invalid(
            f"Not on schedule {schedule_id}: {', '.join(strangers)}.",
            code="student_not_on_schedule",
            details={"fields": {"records": "students not on this schedule"}, "student_ids": strangers},
        )
    _check_lesson(schedule, day)
    store.write_lesson_attendance(schedule_id, day, records, actor_id)
    return store.attendance_on(schedule_id, day)


MISSING_CAP = 1000


def missing_attendance(from_: date, to: date, now: datetime) -> tuple[list[tuple[Schedule, Lesson, list[str]]], bool]:
    """Past lessons in [from_, to] (ended before ``now``, not cancelled) whose current students lack a
    record → (schedule, lesson, missing student ids), by start; True when capped at ``MISSING_CAP``.

    Served by queries only: the live schedules with a session in the range (the ``by_kind`` index),
    each one's records in the range (a key query of its partition), the closed days (batch reads)."""
    closed = closures_on(list(calendar_days(from_, to)))
    out: list[tuple[Schedule, Lesson, list[str]]] = []
    for schedule in store.live_schedules_between(from_, to):
        past = [one for one in lessons(schedule, from_, to, closed) if one.status != CANCELLED and one.ends_at <= now]
        if not past:
            continue
        recorded = {(a.date, a.student_id) for a in store.attendance_between(schedule.id, from_, to)}
        for one in past:
            absent = [sid for sid in schedule.member_ids() if (one.date.isoformat(), sid) not in recorded]
            if absent:
                out.append((schedule, one, absent))
    out.sort(key=lambda row: (row[1].starts_at, row[0].id))
    return out[:MISSING_CAP], len(out) > MISSING_CAP


def list_student_attendance(
    student_id: str, limit: int, next_token: str | None, from_: date | None, to: date | None
) -> tuple[list[Attendance], str | None]:
    """A student's attendance on every schedule (404 for an unknown student)."""
    students.get(student_id)
    return store.list_student_attendance(student_id, limit, next_token, from_, to)


# --- what families see ---------------------------------------------------------------------------------


def student_lessons(
    student_id: str, customer_id: str, from_: date | None, to: date | None
) -> tuple[Any, list[tuple[Schedule, Lesson]]]:
    """A customer's own student's lessons in [from, to] (default the next 28 days in the student's zone,
    at most 92) with exceptions and closures, by start → (the student, [(schedule, lesson)]). Someone
    else's student is a 404, as a missing one."""
    student = students.get_owned(student_id, customer_id)
    start, end = lesson_range(from_, to, local_date(student.timezone or "UTC", utcnow()))
    closed = closures_on(list(calendar_days(start, end)))
    rows: list[tuple[Schedule, Lesson]] = []
    token: str | None = None
    while True:
        page, token = store.list_for_student(student_id, 100, token, start, end)
        rows += [(s, one) for s in page for one in lessons(s, start, end, closed)]
        if not token:
            break
    rows.sort(key=lambda row: (row[1].starts_at, row[0].id))
    return student, rows


def own_student_attendance(
    student_id: str, customer_id: str, limit: int, next_token: str | None, from_: date | None, to: date | None
) -> tuple[list[Attendance], str | None]:
    students.get_owned(student_id, customer_id)
    return store.list_student_attendance(student_id, limit, next_token, from_, to)
