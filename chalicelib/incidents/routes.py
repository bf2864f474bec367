"""HTTP routes of the incidents capability: intake (``POST /incidents``), triage (admin) and the reporter script."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib.core import audit
from chalicelib.core.api import LIST_QUERY, Reply, Req, route, schemas
from chalicelib.core.db import iso
from chalicelib.core.errors import PayloadTooLarge, RateLimited
from chalicelib.core.observability import logger
from chalicelib.incidents import capture, domain, store
from chalicelib.incidents.domain import LIMITS

bp = Blueprint(__name__)
S = schemas("chalicelib.incidents.schemas")  # the models, imported on first use
capture.install()  # unhandled route and job errors become incidents from here on

REPORTER_JS = Path(__file__).resolve().parent.parent / "static" / "incident-reporter.js"


# --- intake --------------------------------------------------------------------------------------


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@route(
    bp,
    "/incidents",
    "POST",
    auth="optional",
    body=S.IncidentIn,
    response=S.IncidentAccepted,
    status=202,
    max_body=LIMITS.hard_max_body_bytes,
    errors=(413, 429),
    tag="incidents",
)
def report_incident(req: Req) -> Reply:
    """Report an incident (admin, customer or anonymous; rate-limited per actor or source address)."""
    body: S.IncidentIn = req.body
    retry_after = store.check_rate(req.actor, req.source_ip)
    if retry_after is not None:
        raise RateLimited("Too many incident reports; try again later.", code="incident_rate_limited", retry_after=retry_after)
    size, limit = len(req.raw.raw_body or b""), domain.LIMITS.max_body_bytes
    dropped = None
    if size > limit:
        dropped = {"reason": "payload_too_large", "size_bytes": size, "max_bytes": limit}
    draft = domain.build_draft(
        source="frontend",
        area=body.area,
        message=body.message,
        actor=req.actor,
        http_status=body.http_status,
        backend_error=body.backend_error,
        entities=[e.model_dump() for e in body.entities],
        location=body.location,
        occurred_at=iso(_utc(body.occurred_at)),
        request_id=body.request_id,
        context=body.context,
        claimed_actor=body.actor,
        user_agent=req.headers.get("user-agent"),
        source_ip=req.source_ip,
        dropped=dropped,
    )
    incident_id, group_id, stored = store.record(draft)
    logger.info(
        "incident recorded",
        extra={"incident_id": incident_id, "group_id": group_id, "area": draft.area, "stored": stored, "dropped": bool(dropped)},
    )
    if dropped:
        raise PayloadTooLarge(
            f"The body is {size} bytes; incidents accept at most {limit}. A stub incident records the drop.",
            details={**dropped, "id": incident_id, "group_id": group_id},
        )
    return Reply({"id": incident_id, "group_id": group_id, "stored": stored}, status=202)


# --- triage --------------------------------------------------------------------------------------


@route(bp, "/admin/incidents", "GET", auth="admin", query=S.GroupQuery, response=S.page("GroupOut"), tag="incidents")
def list_incident_groups(req: Req) -> dict:
    """Incident groups, newest last_seen first (filters: status, area, source, since)."""
    q: S.GroupQuery = req.query
    area = q.area.strip().lower() if q.area and not q.area.startswith("backend.") else q.area
    items, token = store.list_groups(q.limit, q.next_token, status=q.status, area=area, source=q.source, since=_utc(q.since))
    return {"items": [store.group_dict(g) for g in items], "next_token": token}


@route(
    bp,
    "/admin/incidents/groups/{group_id}",
    "GET",
    auth="admin",
    query=LIST_QUERY,
    response=S.GroupDetail,
    tag="incidents",
)
def get_incident_group(req: Req, group_id: str) -> dict:
    """One group with its stored incidents, newest first (paginated)."""
    group = store.get_group(group_id)
    items, token = store.list_incidents(group_id, req.query.limit, req.query.next_token)
    return {"group": store.group_dict(group), "items": [store.incident_dict(i) for i in items], "next_token": token}


def _change(req: Req, group_id: str, status: str) -> dict[str, Any]:
    note = req.body.note if req.body else None
    action = "incident_group.resolve" if status == "resolved" else "incident_group.reopen"
    group, changed = store.set_status(group_id, status, req.actor, note)
    audit.record(req.actor, action, f"incident_group:{group_id}", {"note": note}, {"status": 200, "changed": changed})
    return {"group": store.group_dict(group), "changed": changed}


@route(
    bp,
    "/admin/incidents/groups/{group_id}/resolve",
    "POST",
    auth="admin",
    body=S.StatusChangeIn,
    response=S.StatusChangeOut,
    tag="incidents",
)
def resolve_incident_group(req: Req, group_id: str) -> dict:
    """Mark a group resolved (idempotent: resolving a resolved group answers 200 with changed=false)."""
    return _change(req, group_id, "resolved")


@route(
    bp,
    "/admin/incidents/groups/{group_id}/reopen",
    "POST",
    auth="admin",
    body=S.StatusChangeIn,
    response=S.StatusChangeOut,
    tag="incidents",
)
def reopen_incident_group(req: Req, group_id: str) -> dict:
    """Reopen a group (idempotent: reopening an open group answers 200 with changed=false)."""
    return _change(req, group_id, "open")


# --- the browser reporter ------------------------------------------------------------------------


@functools.cache
def _reporter_source() -> str:
    return REPORTER_JS.read_text(encoding="utf-8")


@route(bp, "/static/incident-reporter.js", "GET", auth="public", tag="incidents", media={200: ("text/javascript",)})
def incident_reporter_js(req: Req) -> Response:
    """The dependency-free browser reporter (an ES module: reportIncident, reportingFetch)."""
    return Response(
        body=_reporter_source(),
        status_code=200,
        headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=300"},
    )
