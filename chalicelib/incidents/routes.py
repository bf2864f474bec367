"""HTTP routes of the incidents capability: intake (``POST /incidents``), triage (admin) and the reporter script."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.core.api import LIST_QUERY, Audit, Reply, Req, route, schemas
from chalicelib.core.errors import PayloadTooLarge, RateLimited
from chalicelib.incidents import links, service
from chalicelib.incidents.domain import LIMITS

if TYPE_CHECKING:
    from chalicelib.core.schema import ListQuery
    from chalicelib.incidents.schemas import (
        AssignIn,
        GroupQuery,
        IncidentIn,
        LinksQuery,
        NoteIn,
        RetryJobsIn,
        SnoozeIn,
        StatusChangeIn,
    )

bp = Blueprint(__name__)
S = schemas("chalicelib.incidents.schemas")  # the models, imported on first use

REPORTER_JS = Path(__file__).resolve().parent.parent / "static" / "incident-reporter.js"


# --- intake --------------------------------------------------------------------------------------


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
def report_incident(req: Req[IncidentIn, None]) -> Reply:
    """Report an incident (admin, customer or anonymous; rate-limited per actor or source address)."""
    intake = service.intake()
    retry_after = intake.check_rate(req.actor, req.source_ip)
    if retry_after is not None:
        raise RateLimited("Too many incident reports; try again later.", code="incident_rate_limited", retry_after=retry_after)
    size = len(req.raw.raw_body or b"")
    out = intake.report(req.body, actor=req.actor, source_ip=req.source_ip, user_agent=req.headers.get("user-agent"), size=size)
    if out.dropped:
        raise PayloadTooLarge(
            f"The body is {size} bytes; incidents accept at most {out.dropped['max_bytes']}. A stub incident records the drop.",
            details={**out.dropped, "id": out.id, "group_id": out.group_id},
        )
    return Reply({"id": out.id, "group_id": out.group_id, "stored": out.stored}, status=202)


# --- triage --------------------------------------------------------------------------------------


@route(bp, "/admin/incidents", "GET", auth="admin", query=S.GroupQuery, response=S.page("GroupOut"), tag="incidents")
def list_incident_groups(req: Req[None, GroupQuery]) -> dict[str, Any]:
    """Incident groups, newest last_seen first (filters: status, area, source, since; title: a case-insensitive prefix;
    entity_type + entity_id: the groups that named an entity)."""
    q = req.query
    if q.entity_type is not None and q.entity_id is not None:
        keep = service.group_filter(status=q.status, area=q.area, source=q.source, since=q.since, title=q.title)
        return links.search_by_entity(q.entity_type, q.entity_id, q.limit, q.next_token, keep)
    return service.list_groups(q.limit, q.next_token, status=q.status, area=q.area, source=q.source, since=q.since, title=q.title)


@route(
    bp,
    "/admin/incidents/groups/{group_id}",
    "GET",
    auth="admin",
    query=LIST_QUERY,
    response=S.GroupDetail,
    tag="incidents",
    ids=("group_id",),
)
def get_incident_group(req: Req[None, ListQuery], group_id: str) -> dict[str, Any]:
    """One group with its stored incidents, newest first (paginated)."""
    return service.group_detail(group_id, req.query.limit, req.query.next_token)


def _change(req: Req[StatusChangeIn, None], group_id: str, status: str) -> dict[str, Any]:
    """Resolve or reopen; the audit entry's params are the body (``{"note"}``), its result says ``changed``."""
    group, changed = service.intake().set_status(group_id, status, req.actor, req.body.note)
    if req.audit is not None:
        req.audit.result["changed"] = changed
    return {"group": group, "changed": changed}


@route(
    bp,
    "/admin/incidents/groups/{group_id}/resolve",
    "POST",
    auth="admin",
    body=S.StatusChangeIn,
    response=S.StatusChangeOut,
    tag="incidents",
    audit=Audit("incident_group.resolve", target="incident_group:{group_id}"),
    ids=("group_id",),
)
def resolve_incident_group(req: Req[StatusChangeIn, None], group_id: str) -> dict[str, Any]:
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
    audit=Audit("incident_group.reopen", target="incident_group:{group_id}"),
    ids=("group_id",),
)
def reopen_incident_group(req: Req[StatusChangeIn, None], group_id: str) -> dict[str, Any]:
    """Reopen a group (idempotent: reopening an open group answers 200 with changed=false)."""
    return _change(req, group_id, "open")


def _audited(req: Any, changed: bool) -> None:
    if req.audit is not None:
        req.audit.result["changed"] = changed


@route(
    bp,
    "/admin/incidents/groups/{group_id}/snooze",
    "POST",
    auth="admin",
    body=S.SnoozeIn,
    response=S.GroupChangeOut,
    tag="incidents",
    audit=Audit("incident_group.snooze", target="incident_group:{group_id}"),
    ids=("group_id",),
)
def snooze_incident_group(req: Req[SnoozeIn, None], group_id: str) -> dict[str, Any]:
    """Snooze (archive) a group until a time, N more incidents or a spike; the intake reopens it then (idempotent)."""
    b = req.body
    spike = (b.spike.incidents, b.spike.minutes) if b.spike else None
    group, changed = service.intake().snooze(group_id, req.actor, until=b.until, incidents=b.incidents, spike=spike)
    _audited(req, changed)
    return {"group": group, "changed": changed}


@route(
    bp,
    "/admin/incidents/groups/{group_id}/assign",
    "POST",
    auth="admin",
    body=S.AssignIn,
    response=S.GroupChangeOut,
    tag="incidents",
    audit=Audit("incident_group.assign", target="incident_group:{group_id}"),
    ids=("group_id",),
)
def assign_incident_group(req: Req[AssignIn, None], group_id: str) -> dict[str, Any]:
    """Assign a group to an admin (null unassigns; idempotent)."""
    group, changed = service.intake().assign(group_id, req.body.assignee, req.actor)
    _audited(req, changed)
    return {"group": group, "changed": changed}


@route(
    bp,
    "/admin/incidents/groups/{group_id}/notes",
    "POST",
    auth="admin",
    body=S.NoteIn,
    response=S.NoteOut,
    tag="incidents",
    audit=Audit("incident_group.note", target="incident_group:{group_id}"),
    ids=("group_id",),
)
def note_incident_group(req: Req[NoteIn, None], group_id: str) -> dict[str, Any]:
    """Add a note to a group's timeline (the same note twice in a row is one entry)."""
    changed = service.intake().note(group_id, req.body.note, req.actor)
    _audited(req, changed)
    return {"changed": changed}


@route(
    bp,
    "/admin/incidents/groups/{group_id}/timeline",
    "GET",
    auth="admin",
    query=LIST_QUERY,
    response=S.page("TimelineEntryOut"),
    tag="incidents",
    ids=("group_id",),
)
def incident_group_timeline(req: Req[None, ListQuery], group_id: str) -> dict[str, Any]:
    """A group's timeline (created, assigned, resolved, reopened, snoozed, noted), oldest first (paginated)."""
    return service.timeline(group_id, req.query.limit, req.query.next_token)


@route(
    bp,
    "/admin/incidents/groups/{group_id}/links",
    "GET",
    auth="admin",
    query=S.LinksQuery,
    response=S.page("LinkOut"),
    tag="incidents",
    ids=("group_id",),
)
def incident_group_links(req: Req[None, LinksQuery], group_id: str) -> dict[str, Any]:
    """The jobs and entities a group's incidents named, each with its current state and console path (paginated)."""
    return links.group_links(group_id, req.query.kind, req.query.limit, req.query.next_token)


@route(
    bp,
    "/admin/incidents/groups/{group_id}/retry-jobs",
    "POST",
    auth="admin",
    body=S.RetryJobsIn,
    response=S.RetryJobsOut,
    tag="incidents",
    audit=Audit("incident_group.retry_jobs", target="incident_group:{group_id}"),
    ids=("group_id",),
)
def retry_incident_group_jobs(req: Req[RetryJobsIn, None], group_id: str) -> dict[str, Any]:
    """Retry the group's failed jobs: a dry run listing exactly which unless apply (one page of its jobs per call)."""
    b = req.body
    body, audit = links.retry_jobs(group_id, apply=b.apply, limit=b.limit, next_token=b.next_token)
    if req.audit is not None:
        req.audit.result.update(audit)
    return body


# --- the browser reporter ------------------------------------------------------------------------


@functools.cache
def _reporter_source() -> str:
    return REPORTER_JS.read_text(encoding="utf-8")


@route(bp, "/static/incident-reporter.js", "GET", auth="public", tag="incidents", media={200: ("text/javascript",)})
def incident_reporter_js(req: Req[None, None]) -> Response:
    """The dependency-free browser reporter (an ES module: reportIncident, reportingFetch)."""
    return Response(
        body=_reporter_source(),
        status_code=200,
        headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=300"},
    )
