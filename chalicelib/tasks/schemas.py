"""Tasks: request and response models of the tasks routes and the operator repairs (imported on first use)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool

from chalicelib.core.schema import ListQuery, Out, Query, Strict
from chalicelib.core.validators import CalendarDate, EntityId, Name, Text, TimeZone
from chalicelib.tasks.domain import MAX_WORK_ITEMS


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
    limit: int = Field(1000, ge=1, le=MAX_WORK_ITEMS, description="Index entries examined in this batch.")


class PruneOut(Out):
    dry_run: bool
    scanned: int
    matched: int
    deleted: int
    sample: list[dict[str, Any]]
    next_cursor: str | None


class MigrateShardsIn(Strict):
    apply: StrictBool = False
    cursor: str | None = Field(None, max_length=4096, description="next_cursor of the previous batch.")
    limit: int = Field(500, ge=1, le=MAX_WORK_ITEMS, description="Tasks examined in this batch.")


class MigrateShardsOut(Out):
    dry_run: bool
    scanned: int
    matched: int
    migrated: int
    sample: list[dict[str, Any]]
    next_cursor: str | None


class BackfillIn(Strict):
    from_: CalendarDate = Field(alias="from")
    to: CalendarDate
    apply: StrictBool = False
    task_id: EntityId | None = None
    cursor: str | None = Field(None, max_length=4096)
    limit: int = Field(500, ge=1, le=MAX_WORK_ITEMS, description="Tasks examined in this batch (fewer for long ranges).")


class BackfillOut(Out):
    dry_run: bool
    tasks: int
    matched: int
    created: int
    existing: int
    sample: list[dict[str, Any]]
    next_cursor: str | None


class FamilyTaskQuery(Query):
    from_: CalendarDate | None = Field(None, alias="from", description="Default: 13 days before to.")
    to: CalendarDate | None = Field(None, description="Default and latest: today in the task's zone.")


class FamilyInstanceOut(Out):
    date: str
    status: str
    done_at: str | None


class FamilyTaskOut(Out):
    id: str
    title: str
    description: str | None
    recurrence: str
    timezone: str
    status: str
    today: str = Field(description="The task's local date now: its instance for this date is today's.")
    instances: list[FamilyInstanceOut] = Field(description="Dated today or earlier, newest first.")


class FamilyTasks(Out):
    student_id: str
    items: list[FamilyTaskOut]
    truncated: bool = Field(description="The student has more tasks than one read shows.")
