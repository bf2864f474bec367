"""Schedules: request and response models of the schedules and attendance routes (imported on first use)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from chalicelib.core.calendar import local_date
from chalicelib.core.schema import ListQuery, Out, Query, Strict
from chalicelib.core.validators import CalendarDate, EntityId, Name, Text, Timestamp, TimeZone
from chalicelib.schedules.domain import MAX_STUDENTS


class ScheduleIn(Strict):
    title: Name
    student_ids: list[EntityId] = Field(min_length=1, max_length=MAX_STUDENTS)
    starts_at: Timestamp
    ends_at: Timestamp
    recurrence: Literal["none", "weekly"] = "none"
    until: CalendarDate | None = Field(None, description="Last date of a weekly schedule (inclusive); open-ended if absent.")
    timezone: TimeZone = Field("UTC", description="Zone whose calendar dates attendance uses.")

    @model_validator(mode="after")
    def _order(self) -> ScheduleIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.until is not None and self.recurrence != "weekly":
            raise ValueError("until is only for weekly schedules")
        if self.until is not None and self.until < local_date(self.timezone, self.starts_at):
            raise ValueError("until is before the first session")
        return self


class SchedulePatch(Strict):
    """An admin's edit of a schedule at the ``rev`` they read: at least one of the fields. ``until: null``
    makes a weekly schedule open-ended. A change that would orphan recorded attendance (a student who
    has records leaves, a date with records stops being a session) is refused with 409
    ``would_orphan_attendance`` naming the records, unless ``confirm: true`` (they are then deleted)."""

    rev: int = Field(ge=0, description="The revision the edit is based on (409 stale_revision if it moved on).")
    title: Name | None = None
    starts_at: Timestamp | None = Field(None, description="The first session's start (the weekly wall time follows it).")
    ends_at: Timestamp | None = Field(None, description="The first session's end.")
    student_ids: list[EntityId] | None = Field(None, min_length=1, max_length=MAX_STUDENTS)
    until: CalendarDate | None = Field(None, description="Last date of a weekly schedule (inclusive); null: open-ended.")
    confirm: bool = Field(False, description="Delete the attendance records the edit would orphan.")

    @model_validator(mode="after")
    def _something(self) -> SchedulePatch:
        if not self.model_fields_set - {"rev", "confirm"}:
            raise ValueError("Give at least one of title, starts_at, ends_at, student_ids, until.")
        for name in ("title", "starts_at", "ends_at", "student_ids"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null.")
        return self


class ScheduleOut(Out):
    id: str
    title: str
    student_ids: list[str]
    starts_at: str
    ends_at: str
    recurrence: str
    until: str | None
    timezone: str
    rev: int = 0
    created_at: str
    updated_at: str


class ScheduleQuery(ListQuery):
    student_id: EntityId | None = None
    from_: CalendarDate | None = Field(None, alias="from", description="Only schedules with a session on or after this date.")
    to: CalendarDate | None = Field(None, description="Only schedules with a session on or before this date.")


AttendanceCode = Literal["present", "absent", "late", "excused", "cancelled"]


class AttendanceIn(Strict):
    status: AttendanceCode = Field(description="cancelled: the lesson was cancelled after the fact (for this student).")
    note: Text | None = None


class ExceptionIn(Strict):
    """One date's exception: ``cancel`` it, or ``move`` it to ``to_time`` (the session keeps its length)."""

    action: Literal["cancel", "move"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    to_time: Timestamp | None = Field(None, description="move only: the moved session's start.")

    @model_validator(mode="after")
    def _shape(self) -> ExceptionIn:
        if self.action == "move" and self.to_time is None:
            raise ValueError("to_time is required to move a lesson")
        if self.action == "cancel" and self.to_time is not None:
            raise ValueError("to_time is only for action move")
        return self


class LessonStudentOut(Out):
    student_id: str
    timezone: str
    local_starts_at: str = Field(description="The start in the student's time zone (ISO 8601 with offset).")
    local_ends_at: str


class LessonOut(Out):
    schedule_id: str
    title: str
    date: str = Field(description="The occurrence date (the lesson's identity, also for a moved lesson).")
    status: Literal["scheduled", "moved", "cancelled"]
    reason: str | None = None
    starts_at: str
    ends_at: str
    students: list[LessonStudentOut]


class ExceptionOut(Out):
    lesson: LessonOut
    attendance_cancelled: int = Field(0, description="Records of the date marked cancelled by this cancel.")


class AttendanceOut(Out):
    schedule_id: str
    date: str
    student_id: str
    status: str
    note: str | None
    created_at: str
    updated_at: str
    updated_by: str | None


class AttendanceQuery(ListQuery):
    from_: CalendarDate | None = Field(None, alias="from")
    to: CalendarDate | None = None


class DeletedOut(Out):
    deleted: bool | None = None
    attendance_deleted: int | None = None
    status: str | None = None
    job_id: str | None = None


class ClosureIn(Strict):
    """An academy-wide closure (a holiday): every lesson on these days is cancelled."""

    starts_on: CalendarDate = Field(description="First closed day.")
    ends_on: CalendarDate = Field(description="Last closed day (inclusive; at most 92 days in all).")
    reason: Name


class ClosureOut(Out):
    id: str
    starts_on: str
    ends_on: str
    reason: str
    created_at: str
    created_by: str | None = None


class ClosureQuery(ListQuery):
    from_: CalendarDate | None = Field(None, alias="from", description="Only closures ending on or after this date.")
    to: CalendarDate | None = Field(None, description="Only closures starting on or before this date.")


class LessonQuery(Query):
    from_: CalendarDate | None = Field(None, alias="from", description="First date (default: today in the schedule's zone).")
    to: CalendarDate | None = Field(None, description="Last date (default: 27 days after from; at most 92 days in all).")


class LessonList(Out):
    items: list[LessonOut]


class LessonAttendanceRecord(Strict):
    student_id: EntityId
    status: AttendanceCode
    note: Text | None = None


class LessonAttendanceIn(Strict):
    """The attendance of one lesson, for some or all of its students, written in one transaction."""

    records: list[LessonAttendanceRecord] = Field(min_length=1, max_length=MAX_STUDENTS)

    @model_validator(mode="after")
    def _unique(self) -> LessonAttendanceIn:
        ids = [r.student_id for r in self.records]
        if len(set(ids)) != len(ids):
            raise ValueError("each student at most once")
        return self


class AttendanceList(Out):
    items: list[AttendanceOut]


class MissingQuery(Query):
    from_: CalendarDate | None = Field(None, alias="from", description="First date (default: 27 days before to).")
    to: CalendarDate | None = Field(None, description="Last date (default: today, UTC; at most 92 days in all).")


class MissingLessonOut(Out):
    schedule_id: str
    title: str
    date: str
    starts_at: str
    ends_at: str
    missing_student_ids: list[str]


class MissingReport(Out):
    items: list[MissingLessonOut] = Field(description="Past, not cancelled lessons with students lacking a record.")
    truncated: bool = Field(False, description="More lessons lack records than listed: narrow the range.")
