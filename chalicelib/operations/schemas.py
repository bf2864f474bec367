"""Request and response models of operations/routes.py (imported on first use)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool

from chalicelib.core.schema import ListQuery, Out, Strict
from chalicelib.incidents.schemas import IncidentOut

JobTypeName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class JobsQuery(ListQuery):
    state: Literal["queued", "running", "succeeded", "failed", "cancelled", "stuck"] | None = Field(
        None, description="Filter by state ('stuck': running with a stale heartbeat). Neither filter: failed, running and queued."
    )
    type: JobTypeName | None = None


class JobOut(Out):
    job_id: str
    type: str
    state: str
    attempts: int
    last_error: dict[str, Any] | None = None
    entity: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    heartbeat_at: str | None = None
    stuck: bool
    queue: str


class JobDetail(JobOut):
    payload: Any = None
    result: Any = None
    errors: list[dict[str, Any]]
    dedupe_key: str | None = None
    timeout_s: int
    actions: dict[str, bool]


class JobActionOut(Out):
    job: JobDetail
    dead_letters_removed: int


class QueueDepth(Out):
    queue: str
    main: dict[str, Any]
    dead_letter: dict[str, Any]


class SummaryOut(Out):
    states: dict[str, int]
    stuck: int
    stuck_capped: bool = False
    types: dict[str, dict[str, int]]
    capped_states: list[str]
    queues: list[QueueDepth]
    counted_at: str


class BulkRetryIn(Strict):
    type: JobTypeName | None = None
    error_contains: str | None = Field(None, min_length=1, max_length=500, description="Case-insensitive, in the last error.")
    state: Literal["failed", "cancelled"] = "failed"
    apply: StrictBool = Field(False, description="False (default): preview only.")
    limit: int = Field(50, ge=1, le=100, description="Entries examined per call when applying (dry runs examine up to 1000).")
    next_token: str | None = Field(None, max_length=4096)


class BulkRetryOut(Out):
    dry_run: bool
    examined: int
    matched: int
    sample: list[JobOut]
    next_token: str | None
    retried: list[str] | None = None
    skipped: list[dict[str, str]] | None = None
    dead_letters_removed: int | None = None


class JobIncidentOut(IncidentOut):
    group: dict[str, Any] = Field(description="{group_id, title, status} of the incident's group.")
