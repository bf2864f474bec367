"""Admin > Academic: request and response models of the students, schedules and tasks routes (imported on first use)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool, model_validator

from chalicelib.academic import recurrence, schedules, tasks
from chalicelib.core.schema import ListQuery, Out, Strict
from chalicelib.core.validators import CalendarDate, EntityId, Name, Text, Timestamp, TimeZone


class StudentIn(Strict):
    customer_id: EntityId
    name: Name
    timezone: TimeZone = "UTC"


class StudentOut(Out):
    id: str
    customer_id: str
    name: str
    timezone: str
    created_at: datetime | str


class ScheduleIn(Strict):
    title: Name
    student_ids: list[EntityId] = Field(min_length=1, max_length=schedules.MAX_STUDENTS)
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
        if self.until is not None and self.until < recurrence.local_date(self.timezone, self.starts_at):
            raise ValueError("until is before the first session")
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
    created_at: str
    updated_at: str


class ScheduleQuery(ListQuery):
    student_id: EntityId | None = None
    from_: CalendarDate | None = Field(None, alias="from", description="Only schedules with a session on or after this date.")
    to: CalendarDate | None = Field(None, description="Only schedules with a session on or before this date.")


class AttendanceIn(Strict):
    status: Literal["present", "absent", "late"]
    note: Text | None = None


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


class TaskIn(Strict):
    title: Name
    description: Text | None = None
    student_id: EntityId | None = None
    recurrence: Literal["none", "daily"]
    timezone: TimeZone | None = Field(None, description="IANA zone; default the student's zone, else UTC.")
    starts_on: CalendarDate | None = Field(None, description="Default: today in the task's zone.")
    ends_on: CalendarDate | None = None


class TaskOut(Out):
    id: str
    title: str
    description: str | None
    student_id: str | None
    recurrence: str
    timezone: str
    starts_on: str
    ends_on: str | None
    status: str
    created_at: str | None
    updated_at: str | None
    deleted_at: str | None


class TaskCreated(Out):
    task: TaskOut
    instances_created: int


class TaskEnded(Out):
    task: TaskOut
    future_instances_deleted: int
    already_ended: bool


class InstanceOut(Out):
    task_id: str
    date: str
    status: str
    timezone: str
    source: str
    created_at: str | None
    updated_at: str | None
    done_at: str | None
    done_by: str | None


class InstancePatch(Strict):
    status: Literal["open", "done"]


class TaskQuery(ListQuery):
    student_id: EntityId | None = None


class InstanceQuery(ListQuery):
    from_: CalendarDate | None = Field(None, alias="from")
    to: CalendarDate | None = None


class PruneIn(Strict):
    apply: StrictBool = False
    cursor: str | None = Field(None, max_length=4096, description="next_cursor of the previous batch.")
    limit: int = Field(1000, ge=1, le=tasks.MAX_WORK_ITEMS, description="Index entries examined in this batch.")


class PruneOut(Out):
    dry_run: bool
    scanned: int
    matched: int
    deleted: int
    sample: list[dict[str, Any]]
    next_cursor: str | None


class BackfillIn(Strict):
    from_: CalendarDate = Field(alias="from")
    to: CalendarDate
    apply: StrictBool = False
    task_id: EntityId | None = None
    cursor: str | None = Field(None, max_length=4096)
    limit: int = Field(500, ge=1, le=tasks.MAX_WORK_ITEMS, description="Tasks examined in this batch (fewer for long ranges).")


class BackfillOut(Out):
    dry_run: bool
    tasks: int
    matched: int
    created: int
    existing: int
    sample: list[dict[str, Any]]
    next_cursor: str | None
