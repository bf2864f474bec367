"""Health, the OpenAPI document and the audit log reader."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response

from chalicelib.core import audit
from chalicelib.core.api import Req, json_response, openapi_document, route, schemas

if TYPE_CHECKING:
    from chalicelib.system.schemas import AuditQuery

bp = Blueprint(__name__)
S = schemas("chalicelib.system.schemas")  # the models, imported on first use


@route(bp, "/health", "GET", auth="public", response=S.Health, tag="system")
def health(req: Req[None, None]) -> dict[str, Any]:
    """Liveness: answers without touching AWS."""
    return {"status": "ok"}


@route(bp, "/openapi.json", "GET", auth="public", tag="system")
def openapi(req: Req[None, None]) -> Response:
    """This API's OpenAPI 3.1 document."""
    return json_response(200, openapi_document())


@route(bp, "/admin/audit", "GET", auth="admin", query=S.AuditQuery, response=S.page("AuditOut"), tag="audit")
def list_audit(req: Req[None, AuditQuery]) -> dict[str, Any]:
    """The audit log, newest first (filters: actor, action, since)."""
    q = req.query
    items, token = audit.list_entries(q.limit, q.next_token, actor_id=q.actor, action=q.action, since=q.since)
    return {"items": [audit.to_dict(e) for e in items], "next_token": token}
