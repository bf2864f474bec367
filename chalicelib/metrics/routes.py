"""Admin > Insights > metrics: trends read from the rollups (thin: parse → service → reply)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import Req, route, schemas
from chalicelib.metrics import service
from chalicelib.metrics.domain import Plan

if TYPE_CHECKING:
    from chalicelib.metrics.schemas import IncidentsMetricsQuery, JobsMetricsQuery, RangeQuery

bp = Blueprint(__name__)
S = schemas("chalicelib.metrics.schemas")  # the models, imported on first use


def _plan(q: RangeQuery) -> Plan:
    return service.plan(q.from_, q.to, q.step)


@route(bp, "/admin/metrics/jobs", "GET", auth="admin", query=S.JobsMetricsQuery, response=S.JobsMetricsOut, tag="metrics")
def job_metrics(req: Req[None, JobsMetricsQuery]) -> dict[str, Any]:
    """Per job type and bucket: enqueued, started, succeeded, failed, retried, run and wait time p50/p95."""
    return service.jobs(_plan(req.query), req.query.type)


@route(
    bp,
    "/admin/metrics/incidents",
    "GET",
    auth="admin",
    query=S.IncidentsMetricsQuery,
    response=S.IncidentsMetricsOut,
    tag="metrics",
)
def incident_metrics(req: Req[None, IncidentsMetricsQuery]) -> dict[str, Any]:
    """Incidents stored and suppressed per bucket: one series per group active in the range, and the total."""
    return service.incidents(_plan(req.query), req.query.group, req.query.area)


@route(bp, "/admin/metrics/media", "GET", auth="admin", query=S.RangeQuery, response=S.MediaMetricsOut, tag="metrics")
def media_metrics(req: Req[None, RangeQuery]) -> dict[str, Any]:
    """Media processed per bucket (bytes, video and worker seconds, peak memory) and its cost per day."""
    return service.media(_plan(req.query))


@route(bp, "/admin/metrics/scheduler", "GET", auth="admin", query=S.RangeQuery, response=S.SchedulerMetricsOut, tag="metrics")
def scheduler_metrics(req: Req[None, RangeQuery]) -> dict[str, Any]:
    """Scheduled runs and the task instances they created, per bucket and scheduled function."""
    return service.scheduler(_plan(req.query))


@route(bp, "/admin/metrics/capacity", "GET", auth="admin", query=S.RangeQuery, response=S.CapacityMetricsOut, tag="metrics")
def capacity_metrics(req: Req[None, RangeQuery]) -> dict[str, Any]:
    """DynamoDB read and write units per API request, by route, over the range, at on-demand list prices."""
    return service.capacity(_plan(req.query))
