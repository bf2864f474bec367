"""Schedules: the job types (the cascade delete of a large schedule)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.jobs.registry import job_type

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext


@job_type("delete_schedule", queue="jobs", timeout_s=120)
def delete_schedule(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Delete a schedule's attendance in resumable chunks, then the schedule (see service.run_delete_job)."""
    from chalicelib.schedules import service

    return service.run_delete_job(job, ctx)
