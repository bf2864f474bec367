"""The academic capability's job types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.jobs.registry import job_type

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext


@job_type("delete_schedule", queue="jobs", timeout_s=120)
def delete_schedule(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Delete a schedule's attendance in resumable chunks, then the schedule (see schedules.run_delete_job)."""
    from chalicelib.academic import schedules

    return schedules.run_delete_job(job, ctx)
