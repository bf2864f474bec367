"""Admin > Insights > Jobs: HTTP routes (thin: parse → :mod:`chalicelib.jobs.operations` → reply)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import BaseModel, Field, StrictBool

from chalicelib.api import ListQuery, Req, Strict, page_model, route
from chalicelib.jobs import operations

bp = Blueprint(__name__)

JobTypeName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class JobsQuery(ListQuery):
    state: Literal["queued", "running", "succeeded", "failed", "cancelled", "stuck"] | None = Field(
        None, description="Filter by state ('stuck': running with a stale heartbeat). Neither filter: failed, running and queued."
    )
    type: JobTypeName | None = None


class JobOut(BaseModel):
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


class JobActionOut(BaseModel):
    job: JobDetail
    dead_letters_removed: int


class QueueDepth(BaseModel):
    queue: str
    main: dict[str, Any]
    dead_letter: dict[str, Any]


class SummaryOut(BaseModel):
    states: dict[str, int]
    stuck: int
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


class BulkRetryOut(BaseModel):
    dry_run: bool
    examined: int
    matched: int
    sample: list[JobOut]
    next_token: str | None
    retried: list[str] | None = None
    skipped: list[dict[str, str]] | None = None
    dead_letters_removed: int | None = None


@route(bp, "/admin/jobs", "GET", auth="admin", query=JobsQuery, response=page_model(JobOut), tag="jobs")
def list_jobs(req: Req) -> dict:
    """List jobs newest first (filters: state, type; neither: failed, running and queued)."""
    q: JobsQuery = req.query
    items, token = operations.list_jobs(q.limit, q.next_token, q.state, q.type)
    return {"items": [j.to_dict() for j in items], "next_token": token}


@route(bp, "/admin/jobs/summary", "GET", auth="admin", response=SummaryOut, tag="jobs")
def jobs_summary(req: Req) -> dict:
    """Counts per state and type, stuck jobs, and each queue's and dead-letter queue's depth."""
    return operations.summary()


@route(bp, "/admin/jobs/{job_id}", "GET", auth="admin", response=JobDetail, tag="jobs")
def get_job(req: Req, job_id: str) -> dict:
    """One job: payload, attempts, error history, and which actions are possible."""
    return operations.detail(operations.get_job(job_id))


@route(bp, "/admin/jobs/{job_id}/retry", "POST", auth="admin", response=JobActionOut, status=202, errors=(409,), tag="jobs")
def retry_job(req: Req, job_id: str) -> dict:
    """Retry a failed or cancelled job (fresh message, dead letter removed); 409 if already queued."""
    return operations.retry_job(job_id, req.actor)


@route(bp, "/admin/jobs/{job_id}", "DELETE", auth="admin", response=JobActionOut, errors=(409,), tag="jobs")
def cancel_job(req: Req, job_id: str) -> dict:
    """Cancel a queued, stuck or failed job; a worker that receives its message skips it."""
    return operations.cancel_job(job_id, req.actor)


@route(bp, "/admin/jobs/retry", "POST", auth="admin", body=BulkRetryIn, response=BulkRetryOut, tag="jobs")
def bulk_retry(req: Req) -> dict:
    """Retry failed jobs by type and/or error text: dry-run by default, one bounded window per call."""
    b: BulkRetryIn = req.body
    out = operations.bulk_retry(
        req.actor,
        job_type=b.type,
        error_contains=b.error_contains,
        state=b.state,
        apply=b.apply,
        limit=b.limit,
        next_token=b.next_token,
    )
    return out
