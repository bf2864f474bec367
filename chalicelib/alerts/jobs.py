"""Alerts: the job type that evaluates one signal and delivers its notifications (see service.evaluate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.jobs.registry import job_type

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext


@job_type("alerts.evaluate", queue="jobs", timeout_s=60)
def evaluate(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Match the signal against the rules, claim the occurrence per rule, send or suppress, deliver per channel."""
    from chalicelib.alerts import service

    return service.evaluate(job.payload or {}, final_attempt=ctx.final_attempt)


@job_type("alerts.sweep_digests", queue="jobs", timeout_s=120)
def sweep_digests(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Send the digests whose period passed without a new occurrence to carry them (see service.sweep_digests)."""
    from chalicelib.alerts import service

    return service.sweep_digests(final_attempt=ctx.final_attempt)
