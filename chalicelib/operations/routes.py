"""Admin > Insights > Jobs: HTTP routes (thin: parse → :mod:`chalicelib.operations.service` → reply).

Each write declares its audit entry; the service's outcome says what the entry's result holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import LIST_QUERY, Audit, AuditNote, Req, route, schemas
from chalicelib.incidents import links
from chalicelib.operations import service
from chalicelib.operations.domain import JOB_ID

if TYPE_CHECKING:
    from chalicelib.core.schema import ListQuery
    from chalicelib.operations.schemas import BulkRetryIn, JobsQuery

bp = Blueprint(__name__)
S = schemas("chalicelib.operations.schemas")  # the models, imported on first use
JOB_IDS = {"job_id": JOB_ID}


def _note(req: Req[Any, Any]) -> AuditNote:
    if req.audit is None:  # every write here declares audit=
        raise RuntimeError("route declared without audit=")
    return req.audit


def _audited(req: Req[Any, Any], outcome: service.Outcome) -> dict[str, Any]:
    _note(req).result.update(outcome.audit)
    return outcome.body


@route(bp, "/admin/jobs", "GET", auth="admin", query=S.JobsQuery, response=S.page("JobOut"), tag="jobs")
def list_jobs(req: Req[None, JobsQuery]) -> dict[str, Any]:
    """List jobs newest first (filters: state, type; neither: failed, running and queued)."""
    q = req.query
    items, token = service.list_jobs(q.limit, q.next_token, q.state, q.type)
    return {"items": [j.to_dict() for j in items], "next_token": token}


@route(bp, "/admin/jobs/summary", "GET", auth="admin", response=S.SummaryOut, tag="jobs")
def jobs_summary(req: Req[None, None]) -> dict[str, Any]:
    """Counts per state and type, stuck jobs, and each queue's and dead-letter queue's depth."""
    return service.summary()


@route(bp, "/admin/jobs/{job_id}", "GET", auth="admin", response=S.JobDetail, tag="jobs", ids=JOB_IDS)
def get_job(req: Req[None, None], job_id: str) -> dict[str, Any]:
    """One job: payload, attempts, error history, and which actions are possible."""
    return service.detail(service.get_job(job_id))


@route(
    bp,
    "/admin/jobs/{job_id}/incidents",
    "GET",
    auth="admin",
    query=LIST_QUERY,
    response=S.page("JobIncidentOut"),
    tag="jobs",
    ids=JOB_IDS,
)
def job_incidents(req: Req[None, ListQuery], job_id: str) -> dict[str, Any]:
    """The incidents a job's failed runs filed, newest first, each with its group (paginated)."""
    service.get_job(job_id)
    return links.job_incidents(job_id, req.query.limit, req.query.next_token)


@route(
    bp,
    "/admin/jobs/{job_id}/retry",
    "POST",
    auth="admin",
    response=S.JobActionOut,
    status=202,
    errors=(409,),
    tag="jobs",
    audit=Audit("job.retry", target="job:{job_id}", params=False),
    ids=JOB_IDS,
)
def retry_job(req: Req[None, None], job_id: str) -> dict[str, Any]:
    """Retry a failed or cancelled job (fresh message, dead letter removed); 409 if already queued."""
    _note(req).params = {"job_id": job_id}
    return _audited(req, service.retry_job(job_id))


@route(
    bp,
    "/admin/jobs/{job_id}",
    "DELETE",
    auth="admin",
    response=S.JobActionOut,
    errors=(409,),
    tag="jobs",
    audit=Audit("job.cancel", target="job:{job_id}", params=False),
    ids=JOB_IDS,
)
def cancel_job(req: Req[None, None], job_id: str) -> dict[str, Any]:
    """Cancel a queued, stuck or failed job; a worker that receives its message skips it."""
    _note(req).params = {"job_id": job_id}
    return _audited(req, service.cancel_job(job_id))


@route(
    bp,
    "/admin/jobs/retry",
    "POST",
    auth="admin",
    body=S.BulkRetryIn,
    response=S.BulkRetryOut,
    tag="jobs",
    audit="job.bulk_retry",
)
def bulk_retry(req: Req[BulkRetryIn, None]) -> dict[str, Any]:
    """Retry failed jobs by type and/or error text: dry-run by default, one bounded window per call."""
    b = req.body
    _note(req).target = f"jobs:{b.state}"
    outcome = service.bulk_retry(
        job_type=b.type,
        error_contains=b.error_contains,
        state=b.state,
        apply=b.apply,
        limit=b.limit,
        next_token=b.next_token,
    )
    return _audited(req, outcome)
