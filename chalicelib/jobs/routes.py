"""Admin > Insights > Jobs: HTTP routes (thin: parse → :mod:`chalicelib.jobs.operations` → reply)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.core.api import Req, route, schemas
from chalicelib.jobs import operations

bp = Blueprint(__name__)
S = schemas("chalicelib.jobs.schemas")  # the models, imported on first use


@route(bp, "/admin/jobs", "GET", auth="admin", query=S.JobsQuery, response=S.page("JobOut"), tag="jobs")
def list_jobs(req: Req) -> dict:
    """List jobs newest first (filters: state, type; neither: failed, running and queued)."""
    q: S.JobsQuery = req.query
    items, token = operations.list_jobs(q.limit, q.next_token, q.state, q.type)
    return {"items": [j.to_dict() for j in items], "next_token": token}


@route(bp, "/admin/jobs/summary", "GET", auth="admin", response=S.SummaryOut, tag="jobs")
def jobs_summary(req: Req) -> dict:
    """Counts per state and type, stuck jobs, and each queue's and dead-letter queue's depth."""
    return operations.summary()


@route(bp, "/admin/jobs/{job_id}", "GET", auth="admin", response=S.JobDetail, tag="jobs")
def get_job(req: Req, job_id: str) -> dict:
    """One job: payload, attempts, error history, and which actions are possible."""
    return operations.detail(operations.get_job(job_id))


@route(bp, "/admin/jobs/{job_id}/retry", "POST", auth="admin", response=S.JobActionOut, status=202, errors=(409,), tag="jobs")
def retry_job(req: Req, job_id: str) -> dict:
    """Retry a failed or cancelled job (fresh message, dead letter removed); 409 if already queued."""
    return operations.retry_job(job_id, req.actor)


@route(bp, "/admin/jobs/{job_id}", "DELETE", auth="admin", response=S.JobActionOut, errors=(409,), tag="jobs")
def cancel_job(req: Req, job_id: str) -> dict:
    """Cancel a queued, stuck or failed job; a worker that receives its message skips it."""
    return operations.cancel_job(job_id, req.actor)


@route(bp, "/admin/jobs/retry", "POST", auth="admin", body=S.BulkRetryIn, response=S.BulkRetryOut, tag="jobs")
def bulk_retry(req: Req) -> dict:
    """Retry failed jobs by type and/or error text: dry-run by default, one bounded window per call."""
    b: S.BulkRetryIn = req.body
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
