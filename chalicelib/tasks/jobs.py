"""Tasks: the hourly scheduled entry point (a fan-out) and the shard job that gives every active daily
task of one shard its instance for its local today."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Cron

from chalicelib.core.observability import logger, metrics
from chalicelib.jobs.registry import job_type
from chalicelib.monitors.service import monitored

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext

bp = Blueprint(__name__)


@bp.schedule(Cron(0, "*", "*", "*", "?", "*"), name="daily_task_instances")
@monitored("daily_task_instances")
def daily_task_instances(event: Any) -> dict[str, int]:
    """Hourly: one shard job per shard that has active daily tasks (once per hour and shard). The
    numbers returned (the monitor's row) are this hour's fan-out and the previous hour's shard jobs' totals."""
    from chalicelib.monitors.domain import parse_time
    from chalicelib.tasks import service

    raw = event.to_dict() if hasattr(event, "to_dict") else event if isinstance(event, dict) else {}
    stats = service.fan_out(parse_time(raw.get("time")))  # the scheduled hour: a redelivery names the same jobs
    logger.info("daily task shard jobs enqueued", extra={"scheduler": stats})
    metrics.add_metric(name="TaskShardJobsEnqueued", unit="Count", value=stats["enqueued"])
    from chalicelib.metrics import service as metrics_service

    metrics_service.count_scheduler_run("daily_task_instances", {})  # the run; its shard jobs count the instances
    return stats


@job_type("tasks.shard_instances", queue="jobs", timeout_s=300)
def shard_instances(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Today's instance of every active daily task of one shard: bounded, resumable, idempotent
    (see service.run_shard_job)."""
    from chalicelib.tasks import service

    result = service.run_shard_job(job, ctx)
    metrics.add_metric(name="TaskInstancesCreated", unit="Count", value=result["created"])
    from chalicelib.metrics import service as metrics_service

    # the instances under the hourly function's series (not a run of it): buffered, written as the job's invocation ends
    metrics_service.count_scheduler_run("daily_task_instances", result, run=False)
    return result
