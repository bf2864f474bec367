"""Admin > Academic > Schedules and attendance: HTTP routes (parse → service → reply)."""

from __future__ import annotations

from datetime import date as date_
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import Audit, Reply, Req, route, schemas
from chalicelib.core.calendar import local_date, parse_date, utc, zone
from chalicelib.core.db import iso, utcnow
from chalicelib.core.errors import ValidationFailed
from chalicelib.schedules import service, store
from chalicelib.schedules.domain import Lesson, ScheduleTimes

if TYPE_CHECKING:
    from chalicelib.schedules.schemas import (
        AttendanceIn,
        AttendanceList,
        AttendanceOut,
        AttendanceQuery,
        ClosureIn,
        ClosureOut,
        ClosureQuery,
        ExceptionIn,
        ExceptionOut,
        LessonAttendanceIn,
        LessonList,
        LessonOut,
        LessonQuery,
        MissingQuery,
        MissingReport,
        ScheduleIn,
        ScheduleOut,
        SchedulePatch,
        ScheduleQuery,
    )

bp = Blueprint(__name__)
S = schemas("chalicelib.schedules.schemas")  # the models, imported on first use


def schedule_out(s: store.Schedule) -> ScheduleOut:
    out: ScheduleOut = S.ScheduleOut(
        id=s.id,
        title=s.title,
        student_ids=s.member_ids(),
        starts_at=iso(s.starts_at) or "",
        ends_at=iso(s.ends_at) or "",
        recurrence=s.recurrence,
        until=s.until,
        timezone=s.timezone,
        rev=int(s.rev or 0),
        created_at=iso(s.created_at) or "",
        updated_at=iso(s.updated_at) or "",
    )
    return out


def lesson_out(s: store.Schedule, one: Lesson, zones: dict[str, str], only: str | None = None) -> LessonOut:
    """A lesson with its local times in each student's zone (``only``: just that student)."""
    ids = [only] if only else s.member_ids()
    people = []
    for sid in ids:
        tz = zones.get(sid, "UTC")
        people.append(
            S.LessonStudentOut(
                student_id=sid,
                timezone=tz,
                local_starts_at=one.starts_at.astimezone(zone(tz)).isoformat(),
                local_ends_at=one.ends_at.astimezone(zone(tz)).isoformat(),
            )
        )
    out: LessonOut = S.LessonOut(
        schedule_id=s.id,
        title=s.title,
        date=one.date.isoformat(),
        status=one.status,
        reason=one.reason,
        starts_at=iso(one.starts_at) or "",
        ends_at=iso(one.ends_at) or "",
        students=people,
    )
    return out


def closure_out(c: store.Closure) -> ClosureOut:
    out: ClosureOut = S.ClosureOut(
        id=c.closure_id,
        starts_on=c.starts_on,
        ends_on=c.ends_on,
        reason=c.reason,
        created_at=iso(c.created_at) or "",
        created_by=c.created_by,
    )
    return out


def attendance_out(a: store.Attendance, *, for_family: bool = False) -> AttendanceOut:
    """One record; a family's read leaves out which admin wrote it (staff ids are the academy's)."""
    out: AttendanceOut = S.AttendanceOut(
        schedule_id=a.schedule_id,
        date=a.date,
        student_id=a.student_id,
        status=a.status,
        note=a.note,
        created_at=iso(a.created_at) or "",
        updated_at=iso(a.updated_at) or "",
        updated_by=None if for_family else a.updated_by,
    )
    return out


@route(
    bp,
    "/admin/schedules",
    "POST",
    auth="admin",
    body=S.ScheduleIn,
    response=S.ScheduleOut,
    status=201,
    errors=(409,),
    tag="schedules",
    audit="schedule.create",
)
def create_schedule(req: Req[ScheduleIn, None]) -> ScheduleOut:
    """Create a schedule for one or more students."""
    body = req.body
    times = ScheduleTimes(utc(body.starts_at), utc(body.ends_at), body.recurrence, body.until, body.timezone)
    s = service.create(body.title, body.student_ids, times)
    if req.audit:
        req.audit.target = f"schedule:{s.id}"
    return schedule_out(s)


@route(bp, "/admin/schedules", "GET", auth="admin", query=S.ScheduleQuery, response=S.page("ScheduleOut"), tag="schedules")
def list_schedules(req: Req[None, ScheduleQuery]) -> dict[str, Any]:
    """Live schedules (filters: student_id, from, to), by first session date."""
    q = req.query
    if q.from_ and q.to and q.to < q.from_:
        raise ValidationFailed("'to' is before 'from'.", details={"fields": {"query.to": "must be on or after from"}})
    if q.student_id:
        items, token = store.list_for_student(q.student_id, q.limit, q.next_token, q.from_, q.to)
    else:
        items, token = store.list_all(q.limit, q.next_token, q.from_, q.to)
    return {"items": [schedule_out(s).model_dump(mode="json") for s in items], "next_token": token}


@route(
    bp,
    "/admin/schedules/{schedule_id}",
    "GET",
    auth="admin",
    response=S.ScheduleOut,
    errors=(400,),
    tag="schedules",
    ids=("schedule_id",),
)
def get_schedule(req: Req[None, None], schedule_id: str) -> ScheduleOut:
    """Read one schedule (404 once it is being deleted)."""
    return schedule_out(store.get(schedule_id))


@route(
    bp,
    "/admin/schedules/{schedule_id}",
    "PATCH",
    auth="admin",
    body=S.SchedulePatch,
    response=S.ScheduleOut,
    errors=(400, 404, 409),
    tag="schedules",
    audit=Audit("schedule.update", target="schedule:{schedule_id}"),
    ids=("schedule_id",),
)
def update_schedule(req: Req[SchedulePatch, None], schedule_id: str) -> ScheduleOut:
    """Edit a schedule at the revision read (409 ``stale_revision``): title, times, students, weekly end.
    Recorded attendance the edit would orphan is refused (409 ``would_orphan_attendance``) unless confirmed."""
    body = req.body
    changes = body.model_dump(include=body.model_fields_set - {"rev", "confirm"})
    s, dropped = service.update(schedule_id, body.rev, changes, confirm=body.confirm)
    if req.audit:
        req.audit.result["attendance_deleted"] = dropped
    return schedule_out(s)


@route(
    bp,
    "/admin/schedules/{schedule_id}",
    "DELETE",
    auth="admin",
    response=S.DeletedOut,
    also={202: S.DeletedOut},
    tag="schedules",
    errors=(400, 409),
    audit=Audit("schedule.delete", target="schedule:{schedule_id}", params=False),
    ids=("schedule_id",),
)
def delete_schedule(req: Req[None, None], schedule_id: str) -> Reply:
    """Delete a schedule and all its attendance (one transaction up to 99 records, else a job: 202)."""
    result = service.delete(schedule_id)
    if req.audit:
        req.audit.result.update(result)
    return Reply(result, status=200 if result.get("deleted") else 202)


@route(
    bp,
    "/admin/schedules/{schedule_id}/attendance/{date}/{student_id}",
    "PUT",
    auth="admin",
    body=S.AttendanceIn,
    response=S.AttendanceOut,
    tag="schedules",
    errors=(409,),
    audit=Audit("attendance.put", target="schedule:{schedule_id}"),
    ids=("schedule_id", "student_id"),
)
def put_attendance(req: Req[AttendanceIn, None], schedule_id: str, date: str, student_id: str) -> AttendanceOut:
    """Record (upsert) one student's attendance for one session date."""
    body = req.body
    day = parse_date(date)
    if req.audit:
        req.audit.params = {"date": day.isoformat(), "student_id": student_id, **body.model_dump()}
    a = service.put_attendance(schedule_id, day, student_id, body.status, body.note, req.principal.id)
    return attendance_out(a)


@route(
    bp,
    "/admin/schedules/{schedule_id}/attendance",
    "GET",
    auth="admin",
    query=S.AttendanceQuery,
    response=S.page("AttendanceOut"),
    tag="schedules",
    ids=("schedule_id",),
)
def list_attendance(req: Req[None, AttendanceQuery], schedule_id: str) -> dict[str, Any]:
    """A schedule's attendance, by date then student (filters: from, to)."""
    q = req.query
    items, token = service.list_attendance(schedule_id, q.limit, q.next_token, q.from_, q.to)
    return {"items": [attendance_out(a).model_dump(mode="json") for a in items], "next_token": token}


@route(
    bp,
    "/admin/schedules/{schedule_id}/lessons",
    "GET",
    auth="admin",
    query=S.LessonQuery,
    response=S.LessonList,
    errors=(400, 404),
    tag="schedules",
    ids=("schedule_id",),
)
def list_lessons(req: Req[None, LessonQuery], schedule_id: str) -> LessonList:
    """A schedule's lessons in [from, to] (≤ 92 days): status scheduled|moved|cancelled (an exception or a
    closure), the reason, and the times in each student's zone."""
    s = store.get(schedule_id)
    start, end = service.lesson_range(req.query.from_, req.query.to, local_date(s.timezone, utcnow()))
    zones = service.zones(s.member_ids())
    out: LessonList = S.LessonList(items=[lesson_out(s, one, zones) for one in service.lessons(s, start, end)])
    return out


# --- exceptions -------------------------------------------------------------------------------------


def _one_lesson(s: store.Schedule, day: date_) -> LessonOut:
    return lesson_out(s, service.lessons(s, day, day)[0], service.zones(s.member_ids()))


@route(
    bp,
    "/admin/schedules/{schedule_id}/exceptions/{date}",
    "PUT",
    auth="admin",
    body=S.ExceptionIn,
    response=S.ExceptionOut,
    errors=(400, 404, 409),
    tag="schedules",
    audit=Audit("schedule.exception.put", target="schedule:{schedule_id}"),
    ids=("schedule_id",),
)
def put_exception(req: Req[ExceptionIn, None], schedule_id: str, date: str) -> ExceptionOut:
    """Cancel one lesson (its recorded attendance becomes ``cancelled``) or move it to another time."""
    body = req.body
    day = parse_date(date)
    if req.audit:
        req.audit.params = {"date": day.isoformat(), **body.model_dump(mode="json")}
    s, cancelled = service.set_exception(schedule_id, day, body.action, body.reason, body.to_time)
    if req.audit:
        req.audit.result["attendance_cancelled"] = cancelled
    out: ExceptionOut = S.ExceptionOut(lesson=_one_lesson(s, day), attendance_cancelled=cancelled)
    return out


@route(
    bp,
    "/admin/schedules/{schedule_id}/exceptions/{date}",
    "DELETE",
    auth="admin",
    response=S.LessonOut,
    errors=(400, 404, 409),
    tag="schedules",
    audit=Audit("schedule.exception.delete", target="schedule:{schedule_id}", params=False),
    ids=("schedule_id",),
)
def delete_exception(req: Req[None, None], schedule_id: str, date: str) -> LessonOut:
    """Undo one lesson's cancel or move (404 ``exception_not_found`` when it has none)."""
    day = parse_date(date)
    if req.audit:
        req.audit.params = {"date": day.isoformat()}
    return _one_lesson(service.delete_exception(schedule_id, day), day)


# --- academy-wide closures ----------------------------------------------------------------------------


@route(
    bp,
    "/admin/closures",
    "POST",
    auth="admin",
    body=S.ClosureIn,
    response=S.ClosureOut,
    status=201,
    errors=(400, 409),
    tag="schedules",
    audit="closure.create",
)
def create_closure(req: Req[ClosureIn, None]) -> ClosureOut:
    """Close the academy for a range of days (≤ 92): every lesson in it is cancelled, attendance refused.
    A day already closed → 409 ``closure_overlaps``."""
    body = req.body
    c = service.create_closure(body.starts_on, body.ends_on, body.reason, req.principal.id)
    if req.audit:
        req.audit.target = f"closure:{c.closure_id}"
    return closure_out(c)


@route(bp, "/admin/closures", "GET", auth="admin", query=S.ClosureQuery, response=S.page("ClosureOut"), tag="schedules")
def list_closures(req: Req[None, ClosureQuery]) -> dict[str, Any]:
    """Closures overlapping [from, to], by first day."""
    q = req.query
    if q.from_ and q.to and q.to < q.from_:
        raise ValidationFailed("'to' is before 'from'.", details={"fields": {"query.to": "must be on or after from"}})
    items, token = store.list_closures(q.limit, q.next_token, q.from_, q.to)
    return {"items": [closure_out(c).model_dump(mode="json") for c in items], "next_token": token}


@route(
    bp,
    "/admin/closures/{closure_id}",
    "DELETE",
    auth="admin",
    response=S.ClosureOut,
    errors=(404,),
    tag="schedules",
    audit=Audit("closure.delete", target="closure:{closure_id}", params=False),
    ids=("closure_id",),
)
def delete_closure(req: Req[None, None], closure_id: str) -> ClosureOut:
    """Reopen the days of a closure (the deleted closure is returned)."""
    return closure_out(service.delete_closure(closure_id))


# --- attendance of a lesson, a student's attendance, the missing report ------------------------------


@route(
    bp,
    "/admin/schedules/{schedule_id}/lessons/{date}/attendance",
    "PUT",
    auth="admin",
    body=S.LessonAttendanceIn,
    response=S.AttendanceList,
    errors=(400, 404, 409),
    tag="schedules",
    audit=Audit("attendance.put_lesson", target="schedule:{schedule_id}"),
    ids=("schedule_id",),
)
def put_lesson_attendance(req: Req[LessonAttendanceIn, None], schedule_id: str, date: str) -> AttendanceList:
    """Record a whole lesson's attendance in one transaction (all or nothing) → the lesson's records."""
    day = parse_date(date)
    if req.audit:
        req.audit.params = {"date": day.isoformat(), **req.body.model_dump()}
    records: list[tuple[str, str, str | None]] = [(r.student_id, r.status, r.note) for r in req.body.records]
    items = service.put_lesson_attendance(schedule_id, day, records, req.principal.id)
    out: AttendanceList = S.AttendanceList(items=[attendance_out(a) for a in items])
    return out


@route(bp, "/admin/attendance/missing", "GET", auth="admin", query=S.MissingQuery, response=S.MissingReport, tag="schedules")
def missing_attendance(req: Req[None, MissingQuery]) -> MissingReport:
    """Past lessons in [from, to] (≤ 92 days; default the last 28) with students who have no record."""
    now = utcnow()
    q = req.query
    today = now.date()
    start, end = service.lesson_range(q.from_, q.to if (q.to or q.from_) else today, today)  # default: the last 28 days
    rows, truncated = service.missing_attendance(start, end, now)
    items = [
        S.MissingLessonOut(
            schedule_id=s.id,
            title=s.title,
            date=one.date.isoformat(),
            starts_at=iso(one.starts_at) or "",
            ends_at=iso(one.ends_at) or "",
            missing_student_ids=absent,
        )
        for s, one, absent in rows
    ]
    out: MissingReport = S.MissingReport(items=items, truncated=truncated)
    return out


@route(
    bp,
    "/admin/students/{student_id}/attendance",
    "GET",
    auth="admin",
    query=S.AttendanceQuery,
    response=S.page("AttendanceOut"),
    errors=(400, 404),
    tag="schedules",
    ids=("student_id",),
)
def list_student_attendance(req: Req[None, AttendanceQuery], student_id: str) -> dict[str, Any]:
    """A student's attendance on every schedule, by date (filters: from, to)."""
    q = req.query
    items, token = service.list_student_attendance(student_id, q.limit, q.next_token, q.from_, q.to)
    return {"items": [attendance_out(a).model_dump(mode="json") for a in items], "next_token": token}


# --- what families see (own students only; someone else's is a 404) ---------------------------------


@route(
    bp,
    "/customer/students/{student_id}/lessons",
    "GET",
    auth="customer",
    query=S.LessonQuery,
    response=S.LessonList,
    errors=(400, 404),
    tag="schedules",
    ids=("student_id",),
)
def my_student_lessons(req: Req[None, LessonQuery], student_id: str) -> LessonList:
    """Your student's lessons in [from, to] (default the next 28 days, at most 92), cancelled and moved ones
    included, with the times in the student's zone."""
    student, rows = service.student_lessons(student_id, str(req.principal.id), req.query.from_, req.query.to)
    zones = {student.id: student.timezone or "UTC"}
    out: LessonList = S.LessonList(items=[lesson_out(s, one, zones, only=student.id) for s, one in rows])
    return out


@route(
    bp,
    "/customer/students/{student_id}/attendance",
    "GET",
    auth="customer",
    query=S.AttendanceQuery,
    response=S.page("AttendanceOut"),
    errors=(400, 404),
    tag="schedules",
    ids=("student_id",),
)
def my_student_attendance(req: Req[None, AttendanceQuery], student_id: str) -> dict[str, Any]:
    """Your student's attendance history, by date (filters: from, to)."""
    q = req.query
    items, token = service.own_student_attendance(student_id, str(req.principal.id), q.limit, q.next_token, q.from_, q.to)
    return {"items": [attendance_out(a, for_family=True).model_dump(mode="json") for a in items], "next_token": token}
