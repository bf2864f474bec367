"""Schedules, their members and attendance: pynamodb models, queries and the cascade delete (no HTTP).

Keys:
- ``schedules``: ``id``. Sparse GSI ``by_kind`` (``kind``, ``first_on``) lists live schedules; a
  schedule being deleted loses ``kind`` and so vanishes from lists at once.
- ``schedule-members``: ``student_id`` + ``schedule_id`` — the student filter is a key query.
- ``attendance``: ``schedule_id`` + ``key`` (``<date>#<student_id>``) — an upsert target, and the
  whole of a schedule's attendance is one partition (the cascade delete queries it, never scans).

Every attendance write is a transaction that also updates the schedule (``rev + 1``, conditioned on
the schedule being active). The small delete's transaction is conditioned on the ``rev`` it read, so
an attendance write that slipped in between listing and deleting cancels the delete (which retries)
instead of surviving it; after a schedule is marked ``deleting`` every attendance write fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from itertools import batched
from typing import Any

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError
from pynamodb.models import Model

from chalicelib.academic import recurrence
from chalicelib.academic.recurrence import ScheduleTimes
from chalicelib.academic.students import Student
from chalicelib.core.db import UTCDateTime, condition_failed, decode_token, gsi, meta, new_id, page, transaction, utcnow
from chalicelib.core.errors import Conflict, NotFound, ValidationFailed

KIND = "schedule"
ACTIVE = "active"
DELETING = "deleting"
TX_LIMIT = 100  # DynamoDB TransactWriteItems actions
INLINE_DELETE_MAX = TX_LIMIT - 1  # attendance deletes + the schedule's own delete fit one transaction
DELETE_CHUNK = 500  # keys the delete job deletes (in 25-item BatchWriteItems) between progress checks
HEARTBEAT_EVERY_S = 20.0  # the delete job's own heartbeat, on time (the worker's thread also beats)
MAX_STUDENTS = 50
_RETRIES = 6


class Schedule(Model):
    Meta = meta("schedules")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(null=True)
    title = UnicodeAttribute()
    student_ids = ListAttribute(of=UnicodeAttribute, default=list)
    starts_at = UTCDateTime()
    ends_at = UTCDateTime()
    recurrence = UnicodeAttribute(default=recurrence.NONE)
    until = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(default="UTC")
    first_on = UnicodeAttribute()
    active_until = UnicodeAttribute()
    state = UnicodeAttribute(default=ACTIVE)
    rev = NumberAttribute(default=0)
    delete_job_id = UnicodeAttribute(null=True)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    # Live schedules by first session date (sparse: a deleting schedule has no ``kind``).
    by_kind = gsi("by_kind", "kind", "first_on")

    def times(self) -> ScheduleTimes:
        return ScheduleTimes(
            self.starts_at,
            self.ends_at,
            self.recurrence,
            date.fromisoformat(self.until) if self.until else None,
            self.timezone,
        )


class ScheduleMember(Model):
    """One item per (student, schedule): the ``student_id`` filter is a key query."""

    Meta = meta("schedule-members")
    student_id = UnicodeAttribute(hash_key=True)
    schedule_id = UnicodeAttribute(range_key=True)
    first_on = UnicodeAttribute()
    active_until = UnicodeAttribute()


class Attendance(Model):
    Meta = meta("attendance")
    schedule_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)  # "<YYYY-MM-DD>#<student_id>"
    date = UnicodeAttribute()
    student_id = UnicodeAttribute()
    status = UnicodeAttribute()
    note = UnicodeAttribute(null=True)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    updated_by = UnicodeAttribute(null=True)


def attendance_key(d: date, student_id: str) -> str:
    return f"{d.isoformat()}#{student_id}"


# --- create and read ---------------------------------------------------------------------------


def create(
    title: str,
    student_ids: list[str],
    times: ScheduleTimes,
) -> Schedule:
    """Create a schedule and its membership items in one transaction. Unknown students → 400."""
    unique = list(dict.fromkeys(student_ids))
    found = {s.id for s in Student.batch_get(unique, attributes_to_get=["id"])}
    missing = [s for s in unique if s not in found]
    if missing:
        raise ValidationFailed(
            f"Unknown students: {', '.join(missing)}.",
            code="unknown_students",
            details={"fields": {"student_ids": f"unknown: {', '.join(missing)}"}, "unknown": missing},
        )
    now = utcnow()
    schedule = Schedule(
        id=new_id(),
        kind=KIND,
        title=title,
        student_ids=unique,
        starts_at=times.starts_at,
        ends_at=times.ends_at,
        recurrence=times.recurrence,
        until=times.until.isoformat() if times.until else None,
        timezone=times.timezone,
        first_on=times.first_date().isoformat(),
        active_until=recurrence.active_until_key(times),
        state=ACTIVE,
        rev=0,
        created_at=now,
        updated_at=now,
    )
    with transaction() as tx:
        tx.save(schedule, condition=Schedule.id.does_not_exist())
        for sid in unique:
            tx.save(
                ScheduleMember(
                    student_id=sid, schedule_id=schedule.id, first_on=schedule.first_on, active_until=schedule.active_until
                )
            )
    return schedule


def _not_found(schedule_id: str) -> NotFound:
    return NotFound(f"Schedule {schedule_id} does not exist.", code="schedule_not_found", details={"schedule_id": schedule_id})


def _deleting(schedule_id: str) -> Conflict:
    return Conflict(
        f"Schedule {schedule_id} is being deleted; attendance can no longer be recorded.",
        code="schedule_deleting",
        details={"schedule_id": schedule_id},
    )


def find(schedule_id: str) -> Schedule | None:
    try:
        return Schedule.get(schedule_id, consistent_read=True)
    except Schedule.DoesNotExist:
        return None


def get(schedule_id: str) -> Schedule:
    """A live schedule; one being deleted is gone for every reader (404)."""
    s = find(schedule_id)
    if s is None or s.state != ACTIVE:
        raise _not_found(schedule_id)
    return s


def _range(from_: date | None, to: date | None) -> tuple[Any, Any]:
    key_cond = ScheduleMember.first_on <= to.isoformat() if to else None
    filt = ScheduleMember.active_until >= from_.isoformat() if from_ else None
    return key_cond, filt


def list_all(limit: int, next_token: str | None, from_: date | None, to: date | None) -> tuple[list[Schedule], str | None]:
    """Live schedules with a session in [from, to], by first date (index query on ``by_kind``)."""
    key_cond = Schedule.first_on <= to.isoformat() if to else None
    filt = Schedule.active_until >= from_.isoformat() if from_ else None
    it = Schedule.by_kind.query(
        KIND,
        range_key_condition=key_cond,
        filter_condition=filt,
        limit=limit,
        page_size=limit,
        last_evaluated_key=decode_token(next_token),
    )
    return page(it, limit)


def list_for_student(
    student_id: str, limit: int, next_token: str | None, from_: date | None, to: date | None
) -> tuple[list[Schedule], str | None]:
    """A student's live schedules (membership key query, then one batch read of the schedules)."""
    filt = None
    if to:
        filt = ScheduleMember.first_on <= to.isoformat()
    if from_:
        cond = ScheduleMember.active_until >= from_.isoformat()
        filt = cond if filt is None else filt & cond
    it = ScheduleMember.query(
        student_id, filter_condition=filt, limit=limit, page_size=limit, last_evaluated_key=decode_token(next_token)
    )
    members, token = page(it, limit)
    ids = [m.schedule_id for m in members]
    found = {s.id: s for s in Schedule.batch_get(ids, consistent_read=True)} if ids else {}
    live = [found[i] for i in ids if i in found and found[i].state == ACTIVE]
    stale = [m for m in members if m.schedule_id not in found]
    if stale:  # left behind by a delete that died after its transaction: heal on read
        with ScheduleMember.batch_write() as batch:
            for m in stale:
                batch.delete(m)
    return live, token


# --- attendance ----------------------------------------------------------------------------------


def _reasons(exc: TransactWriteError) -> list[str | None]:
    return [r.code if r else None for r in (exc.cancellation_reasons or [])]


def put_attendance(
    schedule_id: str, day: date, student_id: str, status: str, note: str | None, actor_id: str | None
) -> Attendance:
    """Upsert one attendance record. The write is refused unless the schedule is live at commit time."""
    schedule = find(schedule_id)
    if schedule is None:
        raise _not_found(schedule_id)
    if schedule.state != ACTIVE:
        raise _deleting(schedule_id)
    if student_id not in schedule.student_ids:
        raise ValidationFailed(
            f"Student {student_id} is not on schedule {schedule_id}.",
            code="student_not_on_schedule",
            details={"fields": {"student_id": "not on this schedule"}, "student_id": student_id},
        )
    if not schedule.times().occurs_on(day):
        raise ValidationFailed(
            f"Schedule {schedule_id} has no session on {day.isoformat()}.",
            code="not_a_session_date",
            details={"fields": {"date": "no session of this schedule on this date"}, "date": day.isoformat()},
        )
    key = attendance_key(day, student_id)
    for attempt in range(_RETRIES):
        now = utcnow()
        record = Attendance(schedule_id=schedule_id, key=key)
        try:
            with transaction() as tx:
                tx.update(
                    Schedule(id=schedule_id),
                    actions=[Schedule.rev.add(1), Schedule.updated_at.set(now)],
                    condition=Schedule.id.exists() & (Schedule.state == ACTIVE),
                )
                tx.update(
                    record,
                    actions=[
                        Attendance.date.set(day.isoformat()),
                        Attendance.student_id.set(student_id),
                        Attendance.status.set(status),
                        Attendance.note.set(note) if note is not None else Attendance.note.remove(),
                        Attendance.created_at.set(Attendance.created_at | now),
                        Attendance.updated_at.set(now),
                        Attendance.updated_by.set(actor_id or "unknown"),
                    ],
                )
        except TransactWriteError as exc:
            reasons = _reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                current = find(schedule_id)
                if current is None:
                    raise _not_found(schedule_id) from exc
                raise _deleting(schedule_id) from exc
            if "TransactionConflict" in reasons and attempt < _RETRIES - 1:
                time.sleep(0.02 * (attempt + 1))
                continue
            raise
        return Attendance.get(schedule_id, key, consistent_read=True)
    raise Conflict("The schedule is busy; try again.", code="schedule_busy")  # pragma: no cover


def list_attendance(
    schedule_id: str, limit: int, next_token: str | None, from_: date | None = None, to: date | None = None
) -> tuple[list[Attendance], str | None]:
    """A live schedule's attendance, by date then student."""
    get(schedule_id)
    cond = None
    if from_ and to:
        cond = Attendance.key.between(from_.isoformat(), f"{to.isoformat()}#\uffff")
    elif from_:
        cond = Attendance.key >= from_.isoformat()
    elif to:
        cond = Attendance.key <= f"{to.isoformat()}#\uffff"
    it = Attendance.query(
        schedule_id, range_key_condition=cond, limit=limit, page_size=limit, last_evaluated_key=decode_token(next_token)
    )
    return page(it, limit)


# --- delete ----------------------------------------------------------------------------------------


def _attendance_keys(schedule_id: str, limit: int) -> list[str]:
    """Up to ``limit`` attendance keys (consistent; only the sort key is read)."""
    it = Attendance.query(schedule_id, consistent_read=True, limit=limit, page_size=limit, attributes_to_get=["key"])
    return [a.key for a in it]


def _all_attendance_keys(schedule_id: str) -> Iterator[str]:
    """Every attendance key of a schedule, in 1 MB pages (consistent; only the sort key is read)."""
    for a in Attendance.query(schedule_id, consistent_read=True, attributes_to_get=["key"]):
        yield a.key


def _delete_members(schedule_id: str, student_ids: Iterable[str]) -> None:
    with ScheduleMember.batch_write() as batch:
        for sid in student_ids:
            batch.delete(ScheduleMember(student_id=sid, schedule_id=schedule_id))


def delete(schedule_id: str) -> dict[str, Any]:
    """Delete a schedule and all its attendance.

    ≤ 99 records: one transaction (attendance deletes + the schedule's delete conditioned on the
    ``rev`` read) → ``{"deleted": True, "attendance_deleted": n}``. More: a resumable job →
    ``{"status": "deleting", "job_id": ...}`` (the same job for a repeated request while it runs).
    """
    for attempt in range(_RETRIES):
        schedule = find(schedule_id)
        if schedule is None:
            raise _not_found(schedule_id)
        if schedule.state == DELETING:
            return _delete_async(schedule)
        keys = _attendance_keys(schedule_id, INLINE_DELETE_MAX + 1)
        if len(keys) > INLINE_DELETE_MAX:
            return _delete_async(schedule)
        try:
            with transaction() as tx:
                for key in keys:
                    tx.delete(Attendance(schedule_id=schedule_id, key=key))
                tx.delete(schedule, condition=(Schedule.state == ACTIVE) & (Schedule.rev == schedule.rev))
        except TransactWriteError as exc:
            reasons = _reasons(exc)
            if any(r in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons) and attempt < _RETRIES - 1:
                time.sleep(0.01 * attempt)
                continue  # an attendance write or another delete got in first: look again
            raise
        _delete_members(schedule_id, schedule.student_ids)
        return {"deleted": True, "attendance_deleted": len(keys)}
    raise Conflict(
        f"Schedule {schedule_id} keeps changing while being deleted; try again.",
        code="schedule_busy",
        details={"schedule_id": schedule_id},
    )


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
    if not mark_deleting(schedule.id, job.job_id) and job.state == states.SUCCEEDED:
        raise _not_found(schedule.id)
    return {"status": DELETING, "job_id": job.job_id}


def mark_deleting(schedule_id: str, job_id: str) -> bool:
    """Hide the schedule from every read and refuse attendance writes from now on. False: it is gone."""
    try:
        Schedule(id=schedule_id).update(
            actions=[
                Schedule.state.set(DELETING),
                Schedule.kind.remove(),
                Schedule.delete_job_id.set(job_id),
                Schedule.updated_at.set(utcnow()),
            ],
            condition=Schedule.id.exists(),
        )
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


# Test seam: called after each deleted chunk (crash injection).
after_chunk: Callable[[int], None] = lambda deleted: None  # noqa: E731


def run_delete_job(job: Any, ctx: Any) -> dict[str, Any]:
    """The ``delete_schedule`` job: resumable and idempotent.

    Marks the schedule deleting (from then on every attendance write fails), then walks the
    partition's keys in 1 MB pages (consistent, keys only) deleting them in 25-item batches, and walks
    again until a pass finds nothing. Nothing is remembered between attempts: a retry after a crash
    re-reads what is left. Between chunks of ``DELETE_CHUNK`` keys: the ``after_chunk`` seam, a
    heartbeat when ``HEARTBEAT_EVERY_S`` have passed, and the time-budget check.
    """
    from chalicelib.jobs.errors import PermanentJobError, TransientJobError

    schedule_id = (job.payload or {}).get("schedule_id")
    if not isinstance(schedule_id, str) or not schedule_id:
        raise PermanentJobError("payload has no schedule_id")
    mark_deleting(schedule_id, job.job_id)
    deleted = 0
    last_beat = time.monotonic()
    while True:
        found = 0
        for keys in batched(_all_attendance_keys(schedule_id), DELETE_CHUNK):
            with Attendance.batch_write() as batch:  # one BatchWriteItem per 25 keys
                for key in keys:
                    batch.delete(Attendance(schedule_id=schedule_id, key=key))
            found += len(keys)
            deleted += len(keys)
            after_chunk(deleted)
            if time.monotonic() - last_beat >= HEARTBEAT_EVERY_S:
                ctx.heartbeat()
                last_beat = time.monotonic()
            if ctx.remaining_ms() < 30_000:
                raise TransientJobError(f"time budget spent after {deleted} records; the next attempt resumes")
        if not found:
            break
    schedule = find(schedule_id)
    if schedule is not None:
        _delete_members(schedule_id, schedule.student_ids)
        try:
            schedule.delete(condition=Schedule.state == DELETING)
        except DeleteError:
            if find(schedule_id) is not None:  # gone meanwhile is fine; anything else is retried
                raise
    return {"schedule_id": schedule_id, "attendance_deleted": deleted}


def bulk_put_attendance(schedule: Schedule, records: Iterable[tuple[date, str, str]], now: datetime | None = None) -> int:
    """Seed attendance directly (demo data, tests, benchmarks): no per-record transaction."""
    at = now or utcnow()
    n = 0
    with Attendance.batch_write() as batch:
        for day, student_id, status in records:
            batch.save(
                Attendance(
                    schedule_id=schedule.id,
                    key=attendance_key(day, student_id),
                    date=day.isoformat(),
                    student_id=student_id,
                    status=status,
                    created_at=at,
                    updated_at=at,
                    updated_by="seed",
                )
            )
            n += 1
    return n
