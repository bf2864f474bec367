"""Admin > Academic > Schedules and attendance: HTTP routes (parse → store → reply)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from chalice import Blueprint
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from chalicelib.academic import recurrence, schedules
from chalicelib.api import ListQuery, Reply, Req, Strict, page_model, route
from chalicelib.db import iso
from chalicelib.errors import ValidationFailed
from chalicelib.jobs import audit
from chalicelib.validators import EntityId, Name, Text, TimeZone

bp = Blueprint(__name__)


class ScheduleIn(Strict):
    title: Name
    student_ids: list[EntityId] = Field(min_length=1, max_length=schedules.MAX_STUDENTS)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    recurrence: Literal["none", "weekly"] = "none"
    until: date | None = Field(None, description="Last date of a weekly schedule (inclusive); open-ended if absent.")
    timezone: TimeZone = Field("UTC", description="Zone whose calendar dates attendance uses.")

    @model_validator(mode="after")
    def _order(self) -> ScheduleIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.until is not None and self.recurrence != "weekly":
            raise ValueError("until is only for weekly schedules")
        if self.until is not None and self.until < recurrence.local_date(self.timezone, self.starts_at):
            raise ValueError("until is before the first session")
        return self


class ScheduleOut(BaseModel):
    id: str
    title: str
    student_ids: list[str]
    starts_at: str
    ends_at: str
    recurrence: str
    until: str | None
    timezone: str
    created_at: str
    updated_at: str


class ScheduleQuery(ListQuery):
    student_id: EntityId | None = None
    from_: date | None = Field(None, alias="from", description="Only schedules with a session on or after this date.")
    to: date | None = Field(None, description="Only schedules with a session on or before this date.")


class AttendanceIn(Strict):
    status: Literal["present", "absent", "late"]
    note: Text | None = None


class AttendanceOut(BaseModel):
    schedule_id: str
    date: str
    student_id: str
    status: str
    note: str | None
    created_at: str
    updated_at: str
    updated_by: str | None


class AttendanceQuery(ListQuery):
    from_: date | None = Field(None, alias="from")
    to: date | None = None


class DeletedOut(BaseModel):
    deleted: bool | None = None
    attendance_deleted: int | None = None
    status: str | None = None
    job_id: str | None = None


def schedule_out(s: schedules.Schedule) -> ScheduleOut:
    return ScheduleOut(
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


def attendance_out(a: schedules.Attendance) -> AttendanceOut:
    return AttendanceOut(
        schedule_id=a.schedule_id,
        date=a.date,
        student_id=a.student_id,
        status=a.status,
        note=a.note,
        created_at=iso(a.created_at) or "",
        updated_at=iso(a.updated_at) or "",
        updated_by=a.updated_by,
    )


def parse_date(value: str, field: str = "date") -> date:
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_date(field)
    except ValueError:
        return _bad_date(field)


def _bad_date(field: str) -> date:
    raise ValidationFailed(f"{field} must be a calendar date YYYY-MM-DD.", details={"fields": {field: "not a YYYY-MM-DD date"}})


def check_id(value: str, field: str) -> str:
    from chalicelib.validators import _ID

    if not _ID.match(value):
        raise ValidationFailed(f"{field} is not a valid id.", details={"fields": {field: "not a valid id"}})
    return value


@route(bp, "/admin/schedules", "POST", auth="admin", body=ScheduleIn, response=ScheduleOut, status=201, tag="schedules")
def create_schedule(req: Req) -> ScheduleOut:
    """Create a schedule for one or more students."""
    body: ScheduleIn = req.body
    times = recurrence.ScheduleTimes(
        recurrence.utc(body.starts_at), recurrence.utc(body.ends_at), body.recurrence, body.until, body.timezone
    )
    s = schedules.create(body.title, body.student_ids, times)
    audit.record(req.actor, "schedule.create", f"schedule:{s.id}", body.model_dump(mode="json"), {"status": 201})
    return schedule_out(s)


@route(bp, "/admin/schedules", "GET", auth="admin", query=ScheduleQuery, response=page_model(ScheduleOut), tag="schedules")
def list_schedules(req: Req) -> dict:
    """Live schedules (filters: student_id, from, to), by first session date."""
    q: ScheduleQuery = req.query
    if q.from_ and q.to and q.to < q.from_:
        raise ValidationFailed("'to' is before 'from'.", details={"fields": {"query.to": "must be on or after from"}})
    if q.student_id:
        items, token = schedules.list_for_student(q.student_id, q.limit, q.next_token, q.from_, q.to)
    else:
        items, token = schedules.list_all(q.limit, q.next_token, q.from_, q.to)
    return {"items": [schedule_out(s).model_dump(mode="json") for s in items], "next_token": token}


@route(bp, "/admin/schedules/{schedule_id}", "GET", auth="admin", response=ScheduleOut, errors=(400,), tag="schedules")
def get_schedule(req: Req, schedule_id: str) -> ScheduleOut:
    """Read one schedule (404 once it is being deleted)."""
    return schedule_out(schedules.get(check_id(schedule_id, "schedule_id")))


@route(
    bp,
    "/admin/schedules/{schedule_id}",
    "DELETE",
    auth="admin",
    response=DeletedOut,
    also={202: DeletedOut},
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
    body=AttendanceIn,
    response=AttendanceOut,
    tag="schedules",
    errors=(409,),
)
def put_attendance(req: Req, schedule_id: str, date: str, student_id: str) -> AttendanceOut:
    """Record (upsert) one student's attendance for one session date."""
    body: AttendanceIn = req.body
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
    query=AttendanceQuery,
    response=page_model(AttendanceOut),
    tag="schedules",
)
def list_attendance(req: Req, schedule_id: str) -> dict:
    """A schedule's attendance, by date then student (filters: from, to)."""
    q: AttendanceQuery = req.query
    items, token = schedules.list_attendance(check_id(schedule_id, "schedule_id"), q.limit, q.next_token, q.from_, q.to)
    return {"items": [attendance_out(a).model_dump(mode="json") for a in items], "next_token": token}
