"""HTTP routes of the incidents capability: intake (``POST /incidents``), triage (admin) and the reporter script."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, Field, field_validator

from chalicelib.api import ListQuery, Reply, Req, Strict, page_model, route
from chalicelib.db import iso
from chalicelib.errors import PayloadTooLarge, RateLimited
from chalicelib.incidents import capture, domain, store
from chalicelib.incidents.domain import LIMITS
from chalicelib.jobs import audit
from chalicelib.observability import logger

bp = Blueprint(__name__)
capture.install()  # unhandled route and job errors become incidents from here on

REPORTER_JS = Path(__file__).resolve().parent.parent / "static" / "incident-reporter.js"
_AREA = r"^[a-z0-9_-]+(\.[a-z0-9_-]+){0,15}$"


# --- models --------------------------------------------------------------------------------------


class EntityIn(Strict):
    type: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,39}$", description="Entity kind: schedule, student, homework…")
    id: str = Field(min_length=1, max_length=128, pattern=r"^\S+$")

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v


class IncidentIn(Strict):
    area: str = Field(
        max_length=200,
        description="Dotted place, e.g. customers.homework.upload (backend.* is reserved).",
        json_schema_extra={"pattern": _AREA},  # documented, so clients (and the fuzzer) can send valid areas
    )
    message: str = Field(min_length=1, description=f"What the user saw; cut to {LIMITS.message_chars} characters.")
    http_status: int | None = Field(None, ge=100, le=599, description="The failed call's HTTP status, if any.")
    backend_error: Any = Field(None, description=f"The backend's error body (JSON); cut to {LIMITS.backend_error_bytes} bytes.")
    entities: list[EntityIn] = Field(default_factory=list, description=f"Entity ids; first {LIMITS.max_entities} kept.")
    location: str = Field(min_length=1, description=f"Page URL or screen; cut to {LIMITS.location_chars} characters.")
    occurred_at: datetime | None = Field(None, description="The client's clock (the server's is recorded beside it).")
    request_id: str | None = Field(None, max_length=128, description="X-Request-Id of the failed call.")
    context: Any = Field(None, description=f"Any JSON; cut to {LIMITS.context_bytes} bytes.")
    actor: Any = Field(None, description="Ignored: the actor comes from the token. A value sent is kept as claimed_actor.")

    @field_validator("area", mode="before")
    @classmethod
    def _area(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        v = v.strip().lower()
        if not re.match(_AREA, v):
            raise ValueError("must be a dotted place of letters, digits, '_' or '-', like customers.homework.upload")
        if v.startswith("backend."):
            raise ValueError("the 'backend.' prefix is reserved for incidents the server files itself")
        return v


class IncidentAccepted(BaseModel):
    id: str
    group_id: str
    stored: bool = Field(description="False when the group is flooding: the incident was counted, not stored.")


class IncidentOut(BaseModel):
    id: str
    group_id: str
    source: str
    area: str
    message: str
    http_status: int | None
    backend_error: Any = None
    entities: list[dict[str, str]]
    location: str | None
    occurred_at: str | None
    received_at: str
    request_id: str | None
    context: Any = None
    actor: dict[str, str | None]
    claimed_actor: Any = None
    user_agent: str | None
    source_ip: str | None
    origin: dict[str, Any] | None
    dropped: dict[str, Any] | None
    truncated: list[str]


class GroupOut(BaseModel):
    group_id: str
    area: str | None
    source: str | None
    sources: list[str]
    http_status: int | None
    title: str | None
    count: int
    stored: int
    suppressed: int
    regressions: int
    first_seen: str | None
    last_seen: str | None
    status: Literal["open", "resolved"]
    latest: dict[str, Any] | None
    resolved_at: str | None
    resolved_by: dict[str, Any] | None
    resolution_note: str | None
    reopened_at: str | None
    reopened_by: dict[str, Any] | None


class GroupQuery(ListQuery):
    status: Literal["open", "resolved"] | None = None
    area: str | None = Field(None, min_length=1, max_length=200)
    source: Literal["frontend", "backend"] | None = None
    since: datetime | None = Field(None, description="Groups last seen at or after this time.")


class GroupDetail(BaseModel):
    group: GroupOut
    items: list[IncidentOut]
    next_token: str | None


class StatusChangeIn(Strict):
    note: str | None = Field(None, max_length=1000)


class StatusChangeOut(BaseModel):
    group: GroupOut
    changed: bool = Field(description="False when the group already had that status (the call is idempotent).")


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
    body=IncidentIn,
    response=IncidentAccepted,
    status=202,
    max_body=LIMITS.hard_max_body_bytes,
    errors=(413, 429),
    tag="incidents",
)
def report_incident(req: Req) -> Reply:
    """Report an incident (admin, customer or anonymous; rate-limited per actor or source address)."""
    body: IncidentIn = req.body
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


@route(bp, "/admin/incidents", "GET", auth="admin", query=GroupQuery, response=page_model(GroupOut), tag="incidents")
def list_incident_groups(req: Req) -> dict:
    """Incident groups, newest last_seen first (filters: status, area, source, since)."""
    q: GroupQuery = req.query
    area = q.area.strip().lower() if q.area and not q.area.startswith("backend.") else q.area
    items, token = store.list_groups(q.limit, q.next_token, status=q.status, area=area, source=q.source, since=_utc(q.since))
    return {"items": [store.group_dict(g) for g in items], "next_token": token}


@route(
    bp,
    "/admin/incidents/groups/{group_id}",
    "GET",
    auth="admin",
    query=ListQuery,
    response=GroupDetail,
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
    body=StatusChangeIn,
    response=StatusChangeOut,
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
    body=StatusChangeIn,
    response=StatusChangeOut,
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
