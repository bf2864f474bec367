"""Tasks: the scheduled entry point (the hourly run that gives every active daily task its instance)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Cron

from chalicelib.core.observability import logger, metrics
from chalicelib.monitors.service import monitored

bp = Blueprint(__name__)


@bp.schedule(Cron(0, "*", "*", "*", "?", "*"), name="daily_task_instances")
@monitored("daily_task_instances")
def daily_task_instances(event: Any) -> dict[str, int]:
    """Hourly: every active daily task gets its instance for its local today (exactly once)."""
    from chalicelib.tasks import service

    stats = service.run_scheduler()
    logger.info("daily task instances ensured", extra={"scheduler": stats})
    metrics.add_metric(name="TaskInstancesCreated", unit="Count", value=stats["created"])
    from chalicelib.metrics import service as metrics_service

    metrics_service.count_scheduler_run("daily_task_instances", stats)  # buffered: written as the run ends
    return stats
