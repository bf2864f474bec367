"""Incident Hub: request and response models of incidents/routes.py (imported on first use)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from chalicelib.core.schema import ListQuery, Out, Strict
from chalicelib.core.validators import Timestamp
from chalicelib.incidents.domain import LIMITS

_AREA = r"^[a-z0-9_-]+(\.[a-z0-9_-]+){0,15}$"
_ENTITY_TYPE = r"^[a-z][a-z0-9_.-]{0,39}$"


class EntityIn(Strict):
    type: str = Field(pattern=_ENTITY_TYPE, description="Entity kind: schedule, student, homework…")
    id: str = Field(min_length=1, max_length=128, pattern=r"^\S+$")

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v


class IncidentIn(Strict):
    area: str = Field(
        max_length=200,
        description="Dotted place, e.g. customers.homework.upload (backend.* is reserved).",
        json_schema_extra={"pattern": _AREA},  # documented, so clients (and the fuzzer) can send valid areas
    )
    message: str = Field(min_length=1, description=f"What the user saw; cut to {LIMITS.message_chars} characters.")
    http_status: int | None = Field(None, ge=100, le=599, description="The failed call's HTTP status, if any.")
    backend_error: Any = Field(None, description=f"The backend's error body (JSON); cut to {LIMITS.backend_error_bytes} bytes.")
    entities: list[EntityIn] = Field(default_factory=list, description=f"Entity ids; first {LIMITS.max_entities} kept.")
    location: str = Field(min_length=1, description=f"Page URL or screen; cut to {LIMITS.location_chars} characters.")
    occurred_at: Timestamp | None = Field(None, description="The client's clock (the server's is recorded beside it).")
    request_id: str | None = Field(None, max_length=128, description="X-Request-Id of the failed call.")
    context: Any = Field(None, description=f"Any JSON; cut to {LIMITS.context_bytes} bytes.")
    actor: Any = Field(None, description="Ignored: the actor comes from the token. A value sent is kept as claimed_actor.")

    @field_validator("area", mode="before")
    @classmethod
    def _area(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        v = v.strip().lower()
        if not re.match(_AREA, v):
            raise ValueError("must be a dotted place of letters, digits, '_' or '-', like customers.homework.upload")
        if v.startswith("backend."):
            raise ValueError("the 'backend.' prefix is reserved for incidents the server files itself")
        return v


class IncidentAccepted(Out):
    id: str
    group_id: str
    stored: bool = Field(description="False when the group is flooding: the incident was counted, not stored.")


class IncidentOut(Out):
    id: str
    group_id: str
    source: str
    area: str
    message: str
    http_status: int | None
    backend_error: Any = None
    entities: list[dict[str, str]]
    location: str | None
    occurred_at: str | None
    received_at: str
    request_id: str | None
    context: Any = None
    actor: dict[str, str | None]
    claimed_actor: Any = None
    user_agent: str | None
    source_ip: str | None
    origin: dict[str, Any] | None
    dropped: dict[str, Any] | None
    truncated: list[str]
    job_id: str | None = Field(None, description="A backend.job.<type> incident's job.")


class GroupOut(Out):
    group_id: str
    area: str | None
    source: str | None
    sources: list[str]
    http_status: int | None
    title: str | None
    count: int
    stored: int
    suppressed: int
    regressions: int
    first_seen: str | None
    last_seen: str | None
    status: Literal["open", "resolved", "snoozed"]
    latest: dict[str, Any] | None
    resolved_at: str | None
    resolved_by: dict[str, Any] | None
    resolution_note: str | None
    reopened_at: str | None
    reopened_by: dict[str, Any] | None
    snooze_until: str | None = None
    snooze_left: int | None = Field(None, description="Snoozed until this many more incidents (the last one reopens it).")
    snoozed_by: dict[str, Any] | None = None
    entity_first_seen: str | None = Field(None, description="Search by entity: when this group first named it.")
    verified_fixed: bool | None = Field(
        None, description="Group page (first page): every job its incidents named has since succeeded (the job ledger)."
    )
    verified_fixed_at: str | None = Field(None, description="When the last of those jobs succeeded.")
    verified_jobs: list[str] | None = Field(None, description="The jobs whose success verifies it.")
    unfixed_jobs: list[str] | None = Field(None, description="Jobs named that have not succeeded since (first 20).")
    jobs_checked: int | None = None
    jobs_capped: bool | None = Field(None, description="More jobs than a read checks (100): not verified on read.")
    snooze_spike: dict[str, Any] | None = Field(
        None, description="Snoozed until it escalates: {incidents, minutes, window_started_at, counted}."
    )
    assignee: str | None = None


class GroupQuery(ListQuery):
    status: Literal["open", "resolved", "snoozed"] | None = None
    area: str | None = Field(None, min_length=1, max_length=200)
    source: Literal["frontend", "backend"] | None = None
    since: Timestamp | None = Field(None, description="Groups last seen at or after this time.")
    title: str | None = Field(None, min_length=1, max_length=200, description="Title prefix, case-insensitive (title order).")
    entity_type: str | None = Field(None, pattern=_ENTITY_TYPE, description="With entity_id: groups that named this entity.")
    entity_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^\S+$")

    @field_validator("entity_type", mode="before")
    @classmethod
    def _entity_type(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v  # as the intake stores it (EntityIn)

    @model_validator(mode="after")
    def _entity(self) -> GroupQuery:
        if (self.entity_type is None) != (self.entity_id is None):
            raise ValueError("give both entity_type and entity_id, or neither")
        return self


class GroupDetail(Out):
    group: GroupOut
    items: list[IncidentOut]
    next_token: str | None


class StatusChangeIn(Strict):
    note: str | None = Field(None, max_length=1000)


class StatusChangeOut(Out):
    group: GroupOut
    changed: bool = Field(description="False when the group already had that status (the call is idempotent).")


class SpikeIn(Strict):
    incidents: int = Field(10, ge=2, le=100_000, description="Reopen at this many incidents…")
    minutes: int = Field(10, ge=1, le=1440, description="…within this many minutes of the window's first one.")


class SnoozeIn(Strict):
    until: Timestamp | None = Field(None, description="Reopen at this time (in the future).")
    incidents: int | None = Field(None, ge=1, le=1_000_000, description="Reopen at the Nth incident from now.")
    spike: SpikeIn | None = Field(None, description="Reopen when it escalates: N incidents within M minutes (default 10 in 10).")

    @model_validator(mode="after")
    def _one(self) -> SnoozeIn:
        if sum(v is not None for v in (self.until, self.incidents, self.spike)) != 1:
            raise ValueError("give exactly one of until, incidents or spike")
        return self


class AssignIn(Strict):
    assignee: str | None = Field(description="An admin's id; null unassigns.", min_length=1, max_length=128, pattern=r"^\S+$")


class NoteIn(Strict):
    note: str = Field(min_length=1, max_length=2000)


class GroupChangeOut(Out):
    group: GroupOut
    changed: bool = Field(description="False when the group was already in that state (the call is idempotent).")


class NoteOut(Out):
    changed: bool = Field(description="False when this admin's last note on the group is the same text (one entry).")


class TimelineEntryOut(Out):
    id: str
    event: Literal["created", "assigned", "resolved", "reopened", "snoozed", "noted", "notified"]
    at: str
    actor: dict[str, Any] | None
    details: dict[str, Any] | None


class LinksQuery(ListQuery):
    kind: Literal["job", "entity"] | None = Field(None, description="Only the group's jobs, or only its entities.")


class LinkOut(Out):
    kind: Literal["job", "entity"]
    type: str | None = Field(description="The job's type, or the entity's.")
    id: str
    first_seen: str = Field(description="When the group first named it.")
    first_incident_id: str
    exists: bool | None = Field(description="Whether it still exists (null: a kind nothing here looks up).")
    state: dict[str, Any] | None = Field(description="Its current facts: a job's ledger state, an entity's name and state.")
    console_path: str | None = Field(description="Where the console shows it (under the console's mount root).")


class RetryJobsIn(Strict):
    apply: StrictBool = Field(False, description="False (default): list the group's failed jobs, retry nothing.")
    limit: int = Field(100, ge=1, le=100, description="The group's job links examined per call.")
    next_token: str | None = Field(None, max_length=4096)


class RetryJobsOut(Out):
    dry_run: bool
    examined: int = Field(description="Job links of the group examined in this call.")
    matched: int = Field(description="Of those, the failed jobs (what applying retries).")
    jobs: list[dict[str, Any]] = Field(description="Exactly the failed jobs matched, as the ledger has them.")
    next_token: str | None
    retried: list[str] | None = None
    skipped: list[dict[str, str]] | None = None
    dead_letters_removed: int | None = None
