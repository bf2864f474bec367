"""Built-in job types of the runtime (smoke checks of the queue, worker and ledger path from the CLI and the tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.jobs.registry import job_type

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext


@job_type("noop", queue="jobs", timeout_s=60)
def noop(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Does nothing and succeeds: proves the queue, worker and ledger path end to end."""
    return {"echo": job.payload}
