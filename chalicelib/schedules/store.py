"""Schedules, their members and attendance: pynamodb models and queries (no HTTP).

Keys:
- ``schedules``: ``id``. Sparse GSI ``by_kind`` (``kind``, ``first_on``) lists live schedules; a
  schedule being deleted loses ``kind`` and so vanishes from lists at once.
- ``schedule-members``: ``student_id`` + ``schedule_id`` — the student filter is a key query.
- ``attendance``: ``schedule_id`` + ``key`` (``<date>#<student_id>``) — an upsert target, and the
  whole of a schedule's attendance is one partition (the cascade delete queries it, never scans).
- ``closures``: ``pk`` — ``closure#<id>`` (a closure, listed by the sparse ``by_kind``) and ``day#<date>``
  (one per day it covers: closed days are read by key, and attendance writes check them).

Edits (``update``) and exception writes (``set_exceptions``) are updates conditioned on the ``rev``
read and bump it, so two admins editing from the same ``rev`` cannot both win (the second gets 409
``stale_revision``), and an attendance write that lands between an edit's orphan check and its
commit makes the edit fail instead of leaving a record the edit would have orphaned.

Every attendance write is a transaction that also updates the schedule (``rev + 1``, conditioned on
the schedule being active). The small delete's transaction is conditioned on the ``rev`` it read, so
an attendance write that slipped in between listing and deleting cancels the delete (which retries)
instead of surviving it; after a schedule is marked ``deleting`` every attendance write fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any, cast

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DeleteError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, gsi, meta, new_id, query_page, transaction, transition, utcnow
from chalicelib.core.errors import Conflicting, Missing, stale_revision
from chalicelib.schedules.domain import (
    ACTIVE,
    CANCELLED,
    DELETING,
    KIND,
    NONE,
    RETRIES,
    TX_LIMIT,
    ScheduleTimes,
    active_until_key,
    attendance_key,
    cancelled_dates,
    is_occurrence,
)


class Schedule(Model):
    Meta = meta("schedules")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(null=True)
    title = UnicodeAttribute()
    student_ids = ListAttribute(of=UnicodeAttribute, default=list)
    starts_at = UTCDateTime()
    ends_at = UTCDateTime()
    recurrence = UnicodeAttribute(default=NONE)
    until = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(default="UTC")
    first_on = UnicodeAttribute()
    active_until = UnicodeAttribute()
    state = UnicodeAttribute(default=ACTIVE)
    rev = NumberAttribute(default=0)
    delete_job_id = UnicodeAttribute(null=True)
    # Per-occurrence exceptions of this schedule: {"<YYYY-MM-DD>": {"action": "cancel"} |
    # {"action": "move", "starts_at": iso, "ends_at": iso}} — on the schedule item itself, so every
    # exception write is conditioned on (and bumps) the same ``rev`` as edits and attendance writes.
    exceptions = JSONAttribute(null=True)
    # The dates ``exceptions`` cancels, as a set beside it: an attendance write is conditioned on its date
    # not being in it, so a cancel racing an attendance write cannot leave a record on a cancelled lesson.
    cancelled_on = UnicodeSetAttribute(null=True)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    # Live schedules by first session date (sparse: a deleting schedule has no ``kind``).
    by_kind = gsi("by_kind", "kind", "first_on")

    def member_ids(self) -> list[str]:
        # pynamodb types the elements of ListAttribute(of=UnicodeAttribute) as the attribute class; they are str
        return cast("list[str]", list(self.student_ids or []))

    def times(self) -> ScheduleTimes:
        return ScheduleTimes(
            self.starts_at,
            self.ends_at,
            self.recurrence,
            date.fromisoformat(self.until) if self.until else None,
            self.timezone,
        )

    def exception_map(self) -> dict[str, dict[str, Any]]:
        raw = self.exceptions or {}
        return {str(k): dict(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


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
    # A student's attendance across schedules, by date (the key starts with the date).
    by_student = gsi("by_student", "student_id", "key")


def not_found(schedule_id: str) -> Missing:
    return Missing(f"Schedule {schedule_id} does not exist.", code="schedule_not_found", details={"schedule_id": schedule_id})


def deleting(schedule_id: str) -> Conflicting:
    return Conflicting(
        f"Schedule {schedule_id} is being deleted; attendance can no longer be recorded.",
        code="schedule_deleting",
        details={"schedule_id": schedule_id},
    )


def busy(schedule_id: str | None = None) -> Conflicting:
    if schedule_id is None:
        return Conflicting("The schedule is busy; try again.", code="schedule_busy")
    return Conflicting(
        f"Schedule {schedule_id} keeps changing while being deleted; try again.",
        code="schedule_busy",
        details={"schedule_id": schedule_id},
    )


# --- create and read ---------------------------------------------------------------------------


def create(title: str, student_ids: list[str], times: ScheduleTimes) -> Schedule:
    """Write a schedule and its membership items in one transaction (the students were checked)."""
    now = utcnow()
    schedule = Schedule(
        id=new_id(),
        kind=KIND,
        title=title,
        student_ids=student_ids,
        starts_at=times.starts_at,
        ends_at=times.ends_at,
        recurrence=times.recurrence,
        until=times.until.isoformat() if times.until else None,
        timezone=times.timezone,
        first_on=times.first_date().isoformat(),
        active_until=active_until_key(times),
        state=ACTIVE,
        rev=0,
        created_at=now,
        updated_at=now,
    )
    with transaction() as tx:
        tx.save(schedule, condition=Schedule.id.does_not_exist())
        for sid in student_ids:
            tx.save(
                ScheduleMember(
                    student_id=sid, schedule_id=schedule.id, first_on=schedule.first_on, active_until=schedule.active_until
                )
            )
    return schedule


def find(schedule_id: str) -> Schedule | None:
    try:
        return Schedule.get(schedule_id, consistent_read=True)
    except Schedule.DoesNotExist:
        return None


def get(schedule_id: str) -> Schedule:
    """A live schedule; one being deleted is gone for every reader (404)."""
    s = find(schedule_id)
    if s is None or s.state != ACTIVE:
        raise not_found(schedule_id)
    return s


def list_all(limit: int, next_token: str | None, from_: date | None, to: date | None) -> tuple[list[Schedule], str | None]:
    """Live schedules with a session in [from, to], by first date (index query on ``by_kind``)."""
    return query_page(
        Schedule.by_kind.query,
        KIND,
        limit=limit,
        next_token=next_token,
        range_key_condition=Schedule.first_on <= to.isoformat() if to else None,
        filter_condition=Schedule.active_until >= from_.isoformat() if from_ else None,
    )


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
    members, token = query_page(ScheduleMember.query, student_id, limit=limit, next_token=next_token, filter_condition=filt)
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


def lesson_cancelled(schedule_id: str, day: date, closed: bool = False) -> Conflicting:
    why = "the academy is closed that day" if closed else "it is cancelled"
    return Conflicting(
        f"The lesson of schedule {schedule_id} on {day.isoformat()} is cancelled ({why}); attendance cannot be recorded.",
        code="lesson_cancelled",
        details={"schedule_id": schedule_id, "date": day.isoformat(), "closure": closed},
    )


def write_attendance(
    schedule_id: str, day: date, student_id: str, status: str, note: str | None, actor_id: str | None
) -> Attendance:
    """Upsert one attendance record (see :func:`write_lesson_attendance`)."""
    write_lesson_attendance(schedule_id, day, [(student_id, status, note)], actor_id)
    return Attendance.get(schedule_id, attendance_key(day, student_id), consistent_read=True)


def write_lesson_attendance(
    schedule_id: str, day: date, records: list[tuple[str, str, str | None]], actor_id: str | None
) -> None:
    """Upsert the attendance of one lesson (``(student_id, status, note)`` each) in one transaction with
    ``rev + 1`` on the schedule, conditioned at commit time on the schedule being live (else 404, or 409
    ``schedule_deleting``) and the date not being cancelled (409 ``lesson_cancelled``): a cancel that
    commits first refuses the write, one that commits after sees the records (and marks them cancelled)."""
    for attempt in range(RETRIES):
        now = utcnow()
        try:
            with transaction() as tx:
                tx.update(
                    Schedule(id=schedule_id),
                    actions=[Schedule.rev.add(1), Schedule.updated_at.set(now)],
                    condition=Schedule.id.exists()
                    & (Schedule.state == ACTIVE)
                    & ~Schedule.cancelled_on.contains(day.isoformat()),
                )
                tx.condition_check(Closure, day_pk(day), condition=Closure.pk.does_not_exist())
                for student_id, status, note in records:
                    tx.update(
                        Attendance(schedule_id=schedule_id, key=attendance_key(day, student_id)),
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
            if "ConditionalCheckFailed" in reasons:  # which condition: read to explain (emulators misplace the reason)
                current = find(schedule_id)
                if current is None:
                    raise not_found(schedule_id) from exc
                if current.state == ACTIVE and day.isoformat() in (current.cancelled_on or set()):
                    raise lesson_cancelled(schedule_id, day) from exc
                if current.state == ACTIVE and closed_days([day]):
                    raise lesson_cancelled(schedule_id, day, closed=True) from exc
                raise deleting(schedule_id) from exc
            if "TransactionConflict" in reasons and attempt < RETRIES - 1:
                time.sleep(0.02 * (attempt + 1))
                continue
            raise
        return
    raise busy()  # pragma: no cover


def list_attendance(
    schedule_id: str, limit: int, next_token: str | None, from_: date | None = None, to: date | None = None
) -> tuple[list[Attendance], str | None]:
    """A schedule's attendance, by date then student."""
    cond: Condition | None = None
    if from_ and to:
        cond = Attendance.key.between(from_.isoformat(), f"{to.isoformat()}#\uffff")
    elif from_:
        cond = Attendance.key >= from_.isoformat()
    elif to:
        cond = Attendance.key <= f"{to.isoformat()}#\uffff"
    return query_page(Attendance.query, schedule_id, limit=limit, next_token=next_token, range_key_condition=cond)


def _key_range(attr: Any, from_: date | None, to: date | None) -> Condition | None:
    if from_ and to:
        return cast(Condition, attr.between(from_.isoformat(), f"{to.isoformat()}#\uffff"))
    if from_:
        return cast(Condition, attr >= from_.isoformat())
    if to:
        return cast(Condition, attr <= f"{to.isoformat()}#\uffff")
    return None


def list_student_attendance(
    student_id: str, limit: int, next_token: str | None, from_: date | None = None, to: date | None = None
) -> tuple[list[Attendance], str | None]:
    """A student's attendance on every schedule, by date (a query of the ``by_student`` index)."""
    cond = _key_range(Attendance.key, from_, to)
    return query_page(Attendance.by_student.query, student_id, limit=limit, next_token=next_token, range_key_condition=cond)


def attendance_between(schedule_id: str, from_: date, to: date) -> list[Attendance]:
    """Every record of a schedule in [from_, to] (a key query of its partition, all pages)."""
    return list(Attendance.query(schedule_id, _key_range(Attendance.key, from_, to)))


def live_schedules_between(from_: date, to: date) -> Iterator[Schedule]:
    """Every live schedule with a session in [from_, to] (the ``by_kind`` index query, all pages)."""
    return cast(
        Iterator[Schedule],
        Schedule.by_kind.query(
            KIND, Schedule.first_on <= to.isoformat(), filter_condition=Schedule.active_until >= from_.isoformat()
        ),
    )


def put_attendance_records(schedule_id: str, records: Iterable[tuple[date, str, str]], at: datetime, by: str) -> int:
    """Write attendance directly in 25-item batches: no per-record transaction (seeding only)."""
    n = 0
    with Attendance.batch_write() as batch:
        for day, student_id, status in records:
            batch.save(
                Attendance(
                    schedule_id=schedule_id,
                    key=attendance_key(day, student_id),
                    date=day.isoformat(),
                    student_id=student_id,
                    status=status,
                    created_at=at,
                    updated_at=at,
                    updated_by=by,
                )
            )
            n += 1
    return n


# --- delete ----------------------------------------------------------------------------------------


def attendance_keys(schedule_id: str, limit: int) -> list[str]:
    """Up to ``limit`` attendance keys (consistent; only the sort key is read)."""
    return list(all_attendance_keys(schedule_id, limit))


def count_attendance(schedule_id: str, limit: int) -> int:
    """How many attendance records a schedule has, counting to ``limit`` at most (consistent; one
    ``Select=COUNT`` Query: nothing is returned but the count)."""
    out = Attendance._get_connection().connection.client.query(
        TableName=Attendance.Meta.table_name,
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "schedule_id"},
        ExpressionAttributeValues={":s": {"S": schedule_id}},
        Select="COUNT",
        Limit=limit,
        ConsistentRead=True,
    )
    return int(out.get("Count", 0))


def all_attendance_keys(schedule_id: str, limit: int | None = None) -> Iterator[str]:
    """Every attendance key of a schedule (or the first ``limit``), in 1 MB pages (consistent; only the
    sort key is read).

    Raw Query pages on pynamodb's client (same endpoint, retries, timeouts): a cascade delete reads
    thousands of keys, and a model per key would cost more than reading it.
    """
    client = Attendance._get_connection().connection.client
    kwargs: dict[str, Any] = {
        "TableName": Attendance.Meta.table_name,
        "KeyConditionExpression": "#s = :s",
        "ProjectionExpression": "#k",
        "ExpressionAttributeNames": {"#s": "schedule_id", "#k": "key"},
        "ExpressionAttributeValues": {":s": {"S": schedule_id}},
        "ConsistentRead": True,
    }
    left = limit
    while left is None or left > 0:
        if left is not None:
            kwargs["Limit"] = left
        page = client.query(**kwargs)
        items = page.get("Items", ())
        for item in items:
            yield item["key"]["S"]
        if left is not None:
            left -= len(items)
        if not page.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


_UNPROCESSED_RETRIES = 8  # BatchWriteItem hands back what it throttled; resent with back-off


def delete_attendance(schedule_id: str, keys: Iterable[str]) -> None:
    """Delete attendance records by key: one raw BatchWriteItem per 25 (what it hands back unprocessed is
    resent with exponential back-off; still unprocessed after that raises, so a job retries)."""
    client = Attendance._get_connection().connection.client
    table = Attendance.Meta.table_name
    requests = [{"DeleteRequest": {"Key": {"schedule_id": {"S": schedule_id}, "key": {"S": k}}}} for k in keys]
    for i in range(0, len(requests), 25):
        pending: list[dict[str, Any]] = requests[i : i + 25]
        for attempt in range(_UNPROCESSED_RETRIES + 1):
            pending = (client.batch_write_item(RequestItems={table: pending}).get("UnprocessedItems") or {}).get(table) or []
            if not pending:
                break
            if attempt == _UNPROCESSED_RETRIES:
                raise RuntimeError(f"{len(pending)} attendance deletes of schedule {schedule_id} still unprocessed")
            time.sleep(min(1.0, 0.05 * 2**attempt))


def delete_members(schedule_id: str, student_ids: Iterable[str]) -> None:
    with ScheduleMember.batch_write() as batch:
        for sid in student_ids:
            batch.delete(ScheduleMember(student_id=sid, schedule_id=schedule_id))


def delete_at_rev(schedule: Schedule, keys: list[str]) -> bool:
    """One transaction: the listed attendance and the schedule, conditioned on the schedule still being
    active at the ``rev`` read. False: an attendance write or another delete got in first (look again)."""
    try:
        with transaction() as tx:
            for key in keys:
                tx.delete(Attendance(schedule_id=schedule.id, key=key))
            tx.delete(schedule, condition=(Schedule.state == ACTIVE) & (Schedule.rev == schedule.rev))
    except TransactWriteError as exc:
        if any(r in ("ConditionalCheckFailed", "TransactionConflict") for r in _reasons(exc)):
            return False
        raise
    return True


def mark_deleting(schedule_id: str, job_id: str) -> bool:
    """Hide the schedule from every read and refuse attendance writes from now on. False: it is gone."""
    return transition(
        Schedule(id=schedule_id),
        [
            Schedule.state.set(DELETING),
            Schedule.kind.remove(),
            Schedule.delete_job_id.set(job_id),
            Schedule.updated_at.set(utcnow()),
        ],
        Schedule.id.exists(),
    )


def delete_deleting(schedule: Schedule) -> None:
    """Delete a schedule marked deleting (gone meanwhile is fine; anything else is raised, for a retry)."""
    try:
        schedule.delete(condition=Schedule.state == DELETING)
    except DeleteError:
        if find(schedule.id) is not None:
            raise


# --- edits and exceptions (issue 17) ---------------------------------------------------------------


def stale(schedule_id: str, rev: int, current: int) -> Conflicting:
    return stale_revision("Schedule", schedule_id, rev, current)


def _fail_at_rev(schedule_id: str, rev: int, exc: TransactWriteError) -> Exception:
    current = find(schedule_id)
    if current is None or current.state != ACTIVE:
        return not_found(schedule_id)
    if current.rev != rev:
        return stale(schedule_id, rev, int(current.rev))
    return exc


def update(
    schedule: Schedule, rev: int, title: str, student_ids: list[str], times: ScheduleTimes, drop_keys: list[str]
) -> Schedule:
    """One transaction: the schedule's new fields (``rev + 1``, conditioned on being active at ``rev``),
    its membership items kept in step, exceptions on dates that are no longer sessions dropped, and the
    attendance records in ``drop_keys`` (the confirmed orphans) deleted."""
    now = utcnow()
    first_on = times.first_date().isoformat()
    until_key = active_until_key(times)
    old = set(schedule.member_ids())
    new = set(student_ids)
    dates_moved = first_on != schedule.first_on or until_key != schedule.active_until
    put = [sid for sid in student_ids if sid not in old or dates_moved]
    removed = [sid for sid in schedule.member_ids() if sid not in new]
    exceptions = {d: e for d, e in schedule.exception_map().items() if is_occurrence(times, date.fromisoformat(d))}
    if 1 + len(put) + len(removed) + len(drop_keys) > TX_LIMIT:
        raise Conflicting(
            "This edit changes too much at once (more than 100 rows); split it into smaller edits.",
            code="edit_too_large",
            details={"schedule_id": schedule.id, "rows": 1 + len(put) + len(removed) + len(drop_keys)},
        )
    try:
        with transaction() as tx:
            tx.update(
                Schedule(id=schedule.id),
                actions=[
                    Schedule.title.set(title),
                    Schedule.student_ids.set(cast("list[UnicodeAttribute]", student_ids)),
                    Schedule.starts_at.set(times.starts_at),
                    Schedule.ends_at.set(times.ends_at),
                    Schedule.until.set(times.until.isoformat()) if times.until else Schedule.until.remove(),
                    Schedule.first_on.set(first_on),
                    Schedule.active_until.set(until_key),
                    Schedule.exceptions.set(exceptions),
                    _cancelled_on(exceptions),
                    Schedule.rev.add(1),
                    Schedule.updated_at.set(now),
                ],
                condition=(Schedule.state == ACTIVE) & (Schedule.rev == rev),
            )
            for sid in put:
                tx.save(ScheduleMember(student_id=sid, schedule_id=schedule.id, first_on=first_on, active_until=until_key))
            for sid in removed:
                tx.delete(ScheduleMember(student_id=sid, schedule_id=schedule.id))
            for key in drop_keys:
                tx.delete(Attendance(schedule_id=schedule.id, key=key))
    except TransactWriteError as exc:
        raise _fail_at_rev(schedule.id, rev, exc) from exc
    return get(schedule.id)


def _cancelled_on(exceptions: dict[str, dict[str, Any]]) -> Any:
    dates = cancelled_dates(exceptions)
    return Schedule.cancelled_on.set(dates) if dates else Schedule.cancelled_on.remove()  # no empty sets in DynamoDB


def set_exceptions(schedule: Schedule, exceptions: dict[str, dict[str, Any]], cancel_keys: Iterable[str] = ()) -> bool:
    """Replace the exception map (and its set of cancelled dates), conditioned on the ``rev`` read
    (``rev + 1``), and in the same transaction mark the attendance records ``cancel_keys`` ``cancelled``
    (a lesson cancelled after the fact). False: lost a race (an edit or an attendance write got in first)."""
    now = utcnow()
    try:
        with transaction() as tx:
            tx.update(
                Schedule(id=schedule.id),
                actions=[
                    Schedule.exceptions.set(exceptions),
                    _cancelled_on(exceptions),
                    Schedule.rev.add(1),
                    Schedule.updated_at.set(now),
                ],
                condition=(Schedule.state == ACTIVE) & (Schedule.rev == schedule.rev),
            )
            for key in cancel_keys:
                tx.update(
                    Attendance(schedule_id=schedule.id, key=key),
                    actions=[Attendance.status.set(CANCELLED), Attendance.updated_at.set(now)],
                    condition=Attendance.key.exists(),
                )
    except TransactWriteError as exc:
        if any(r in ("ConditionalCheckFailed", "TransactionConflict") for r in _reasons(exc)):
            return False
        raise
    return True


def attendance_on(schedule_id: str, day: date) -> list[Attendance]:
    """A schedule's attendance on one date (a key query on the partition, consistent)."""
    return list(Attendance.query(schedule_id, Attendance.key.startswith(f"{day.isoformat()}#"), consistent_read=True))


# --- academy-wide closures (issue 17) --------------------------------------------------------------


class Closure(Model):
    """A closure (``closure#<id>``: its range and reason, listed by the sparse ``by_kind`` index) and one
    item per day it covers (``day#<YYYY-MM-DD>``), written and deleted in one transaction with it. The
    day items make two closures of one day impossible, answer "is this day closed" by key, and let an
    attendance write carry a ConditionCheck that the day is not closed (a closure racing the write
    cannot leave attendance on a closed day)."""

    Meta = meta("closures")
    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(null=True)  # header only
    closure_id = UnicodeAttribute()
    starts_on = UnicodeAttribute()
    ends_on = UnicodeAttribute()
    reason = UnicodeAttribute()
    created_at = UTCDateTime()
    created_by = UnicodeAttribute(null=True)
    by_kind = gsi("by_kind", "kind", "starts_on")


CLOSURE_KIND = "closure"


def closure_pk(closure_id: str) -> str:
    return f"closure#{closure_id}"


def day_pk(day: date) -> str:
    return f"day#{day.isoformat()}"


def closure_not_found(closure_id: str) -> Missing:
    return Missing(f"Closure {closure_id} does not exist.", code="closure_not_found", details={"closure_id": closure_id})


def closed_days(days: Iterable[date]) -> dict[date, Closure]:
    """The closed days among ``days`` → their day item (batch reads by key)."""
    keys = list(dict.fromkeys(day_pk(d) for d in days))
    if not keys:
        return {}
    return {date.fromisoformat(c.pk.removeprefix("day#")): c for c in Closure.batch_get(keys, consistent_read=True)}


def create_closure(days: list[date], reason: str, actor_id: str | None) -> Closure:
    """One transaction: the header and a day item per day, each conditioned on not existing. A day
    already closed → 409 ``closure_overlaps`` naming the closures in the way."""
    now = utcnow()
    cid = new_id()
    common: dict[str, Any] = {
        "closure_id": cid,
        "starts_on": days[0].isoformat(),
        "ends_on": days[-1].isoformat(),
        "reason": reason,
        "created_at": now,
        "created_by": actor_id,
    }
    header = Closure(pk=closure_pk(cid), kind=CLOSURE_KIND, **common)
    try:
        with transaction() as tx:
            tx.save(header, condition=Closure.pk.does_not_exist())
            for d in days:
                tx.save(Closure(pk=day_pk(d), **common), condition=Closure.pk.does_not_exist())
    except TransactWriteError as exc:
        if "ConditionalCheckFailed" not in _reasons(exc):
            raise
        taken = closed_days(days)
        ids = sorted({c.closure_id for c in taken.values()})
        raise Conflicting(
            f"Some of these days are already closed ({', '.join(ids)}).",
            code="closure_overlaps",
            details={"closure_ids": ids, "dates": sorted(d.isoformat() for d in taken)},
        ) from exc
    return header


def get_closure(closure_id: str) -> Closure:
    try:
        return Closure.get(closure_pk(closure_id), consistent_read=True)
    except Closure.DoesNotExist:
        raise closure_not_found(closure_id) from None


def list_closures(limit: int, next_token: str | None, from_: date | None, to: date | None) -> tuple[list[Closure], str | None]:
    """Closures overlapping [from, to], by first day (a query of the sparse ``by_kind`` index)."""
    return query_page(
        Closure.by_kind.query,
        CLOSURE_KIND,
        limit=limit,
        next_token=next_token,
        range_key_condition=Closure.starts_on <= to.isoformat() if to else None,
        filter_condition=Closure.ends_on >= from_.isoformat() if from_ else None,
    )


def delete_closure(closure: Closure, days: list[date]) -> None:
    """One transaction: the header and its day items (each conditioned on still being this closure's)."""
    try:
        with transaction() as tx:
            tx.delete(closure, condition=Closure.pk.exists())
            for d in days:
                tx.delete(Closure(pk=day_pk(d)), condition=Closure.closure_id == closure.closure_id)
    except TransactWriteError as exc:
        if "ConditionalCheckFailed" in _reasons(exc):
            raise closure_not_found(closure.closure_id) from exc  # deleted meanwhile
        raise
