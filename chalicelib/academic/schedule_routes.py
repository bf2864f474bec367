"""Admin > Academic > Schedules and attendance: HTTP routes (parse → store → reply)."""

from __future__ import annotations

import re
from datetime import date

from chalice import Blueprint

from chalicelib.academic import recurrence, schedules
from chalicelib.core import audit
from chalicelib.core.api import Reply, Req, route, schemas
from chalicelib.core.db import ENTITY_ID, iso
from chalicelib.core.errors import ValidationFailed

bp = Blueprint(__name__)
S = schemas("chalicelib.academic.schemas")  # the models, imported on first use


def schedule_out(s: schedules.Schedule) -> S.ScheduleOut:
    return S.ScheduleOut(
        id=s.id,
        title=s.title,
        student_ids=list(s.student_ids or []),
        starts_at=iso(s.starts_at) or "",
        ends_at=iso(s.ends_at) or "",
        recurrence=s.recurrence,
        until=s.until,
        timezone=s.timezone,
        created_at=iso(s.created_at) or "",
        updated_at=iso(s.updated_at) or "",
    )


def attendance_out(a: schedules.Attendance) -> S.AttendanceOut:
    return S.AttendanceOut(
        schedule_id=a.schedule_id,
        date=a.date,
        student_id=a.student_id,
        status=a.status,
        note=a.note,
        created_at=iso(a.created_at) or "",
        updated_at=iso(a.updated_at) or "",
        updated_by=a.updated_by,
    )


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: str, field: str = "date") -> date:
    try:
        # the pattern first: fromisoformat also takes ISO week dates ("2026-W02-1") and basic "20260105"
        return date.fromisoformat(value) if _DATE.fullmatch(value) else _bad_date(field)
    except ValueError:
        return _bad_date(field)


def _bad_date(field: str) -> date:
    raise ValidationFailed(f"{field} must be a calendar date YYYY-MM-DD.", details={"fields": {field: "not a YYYY-MM-DD date"}})


def check_id(value: str, field: str) -> str:
    if not ENTITY_ID.match(value):
        raise ValidationFailed(f"{field} is not a valid id.", details={"fields": {field: "not a valid id"}})
    return value


@route(bp, "/admin/schedules", "POST", auth="admin", body=S.ScheduleIn, response=S.ScheduleOut, status=201, tag="schedules")
def create_schedule(req: Req) -> S.ScheduleOut:
    """Create a schedule for one or more students."""
    body: S.ScheduleIn = req.body
    times = recurrence.ScheduleTimes(
        recurrence.utc(body.starts_at), recurrence.utc(body.ends_at), body.recurrence, body.until, body.timezone
    )
    s = schedules.create(body.title, body.student_ids, times)
    audit.record(req.actor, "schedule.create", f"schedule:{s.id}", body.model_dump(mode="json"), {"status": 201})
    return schedule_out(s)


@route(bp, "/admin/schedules", "GET", auth="admin", query=S.ScheduleQuery, response=S.page("ScheduleOut"), tag="schedules")
def list_schedules(req: Req) -> dict:
    """Live schedules (filters: student_id, from, to), by first session date."""
    q: S.ScheduleQuery = req.query
    if q.from_ and q.to and q.to < q.from_:
        raise ValidationFailed("'to' is before 'from'.", details={"fields": {"query.to": "must be on or after from"}})
    if q.student_id:
        items, token = schedules.list_for_student(q.student_id, q.limit, q.next_token, q.from_, q.to)
    else:
        items, token = schedules.list_all(q.limit, q.next_token, q.from_, q.to)
    return {"items": [schedule_out(s).model_dump(mode="json") for s in items], "next_token": token}


@route(bp, "/admin/schedules/{schedule_id}", "GET", auth="admin", response=S.ScheduleOut, errors=(400,), tag="schedules")
def get_schedule(req: Req, schedule_id: str) -> S.ScheduleOut:
    """Read one schedule (404 once it is being deleted)."""
    return schedule_out(schedules.get(check_id(schedule_id, "schedule_id")))


@route(
    bp,
    "/admin/schedules/{schedule_id}",
    "DELETE",
    auth="admin",
    response=S.DeletedOut,
    also={202: S.DeletedOut},
    tag="schedules",
    errors=(400, 409),
)
def delete_schedule(req: Req, schedule_id: str) -> Reply:
    """Delete a schedule and all its attendance (one transaction up to 99 records, else a job: 202)."""
    check_id(schedule_id, "schedule_id")
    try:
        result = schedules.delete(schedule_id)
    except Exception as exc:
        audit.record(req.actor, "schedule.delete", f"schedule:{schedule_id}", {}, {"error": type(exc).__name__})
        raise
    status = 200 if result.get("deleted") else 202
    audit.record(req.actor, "schedule.delete", f"schedule:{schedule_id}", {}, {"status": status, **result})
    return Reply(result, status=status)


@route(
    bp,
    "/admin/schedules/{schedule_id}/attendance/{date}/{student_id}",
    "PUT",
    auth="admin",
    body=S.AttendanceIn,
    response=S.AttendanceOut,
    tag="schedules",
    errors=(409,),
)
def put_attendance(req: Req, schedule_id: str, date: str, student_id: str) -> S.AttendanceOut:
    """Record (upsert) one student's attendance for one session date."""
    body: S.AttendanceIn = req.body
    day = parse_date(date)
    check_id(schedule_id, "schedule_id")
    check_id(student_id, "student_id")
    a = schedules.put_attendance(schedule_id, day, student_id, body.status, body.note, req.principal.id)
    audit.record(
        req.actor,
        "attendance.put",
        f"schedule:{schedule_id}",
        {"date": day.isoformat(), "student_id": student_id, **body.model_dump()},
        {"status": 200},
    )
    return attendance_out(a)


@route(
    bp,
    "/admin/schedules/{schedule_id}/attendance",
    "GET",
    auth="admin",
    query=S.AttendanceQuery,
    response=S.page("AttendanceOut"),
    tag="schedules",
)
def list_attendance(req: Req, schedule_id: str) -> dict:
    """A schedule's attendance, by date then student (filters: from, to)."""
    q: S.AttendanceQuery = req.query
    items, token = schedules.list_attendance(check_id(schedule_id, "schedule_id"), q.limit, q.next_token, q.from_, q.to)
    return {"items": [attendance_out(a).model_dump(mode="json") for a in items], "next_token": token}
