"""Admin > Insights > Monitors: every scheduled function's heartbeat (HTTP routes, thin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import LIST_QUERY, Req, route, schemas
from chalicelib.monitors import service

if TYPE_CHECKING:
    from chalicelib.core.schema import ListQuery

bp = Blueprint(__name__)
S = schemas("chalicelib.monitors.schemas")

RunPage = S.page("MonitorRunOut")


@route(bp, "/admin/monitors", "GET", auth="admin", response=S.MonitorList, tag="monitors")
def list_monitors(req: Req[None, None]) -> dict[str, Any]:
    """Every scheduled function: its latest runs, last outcome and duration, next expected run and state."""
    return {"items": service.overview()}


@route(
    bp,
    "/admin/monitors/{monitor}/runs",
    "GET",
    auth="admin",
    query=LIST_QUERY,
    response=RunPage,
    errors=(404,),
    tag="monitors",
    ids=("monitor",),
)
def list_monitor_runs(req: Req[None, ListQuery], monitor: str) -> dict[str, Any]:
    """One scheduled function's runs, newest scheduled first."""
    return service.runs(monitor, req.query.limit, req.query.next_token)
