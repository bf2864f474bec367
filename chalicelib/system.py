"""Health, the OpenAPI document and the audit log reader."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel, Field

from chalicelib.api import ListQuery, Req, json_response, openapi_document, page_model, route
from chalicelib.jobs import audit

bp = Blueprint(__name__)


class Health(BaseModel):
    status: str


class AuditOut(BaseModel):
    id: str
    actor: dict[str, Any]
    action: str
    target: str | None
    params: Any = None
    result: Any = None
    at: str


class AuditQuery(ListQuery):
    actor: str | None = Field(None, max_length=128, description="Actor id.")
    action: str | None = Field(None, max_length=128)
    since: datetime | None = None


@route(bp, "/health", "GET", auth="public", response=Health, tag="system")
def health(req: Req) -> dict:
    """Liveness: answers without touching AWS."""
    return {"status": "ok"}


@route(bp, "/openapi.json", "GET", auth="public", tag="system")
def openapi(req: Req) -> Response:
    """This API's OpenAPI 3.1 document."""
    return json_response(200, openapi_document())


@route(bp, "/admin/audit", "GET", auth="admin", query=AuditQuery, response=page_model(AuditOut), tag="audit")
def list_audit(req: Req) -> dict:
    """The audit log, newest first (filters: actor, action, since)."""
    q: AuditQuery = req.query
    items, token = audit.list_entries(q.limit, q.next_token, actor_id=q.actor, action=q.action, since=q.since)
    return {"items": [audit.to_dict(e) for e in items], "next_token": token}
