"""The console's repair button: one integrity finding's repair (no sweep runs inside an API request)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.core.api import Audit, Req, route, schemas
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.integrity.domain import refused_by_api

if TYPE_CHECKING:
    from chalicelib.integrity.schemas import RepairIn

bp = Blueprint(__name__)
S = schemas("chalicelib.integrity.schemas")

__all__ = ["bp", "refused_by_api", "repair_finding"]


@route(
    bp,
    "/admin/integrity/repair",
    "POST",
    auth="admin",
    body=S.RepairIn,
    response=S.RepairOut,
    errors=(404, 409),
    tag="incidents",
    audit=Audit("integrity.repair", params=False),
)
def repair_finding(req: Req[RepairIn, None]) -> dict[str, Any]:
    """Carry out the repair an integrity incident carries (audited; repeating it changes nothing).

    409 ``not_repairable``: not an integrity finding, no automatic repair, or a repair on an object that is
    not an upload object (a worker's variant: ``academy doctor --apply``)."""
    from chalicelib.integrity import service

    incident_id = req.body.incident_id
    try:
        out = service.repair_incident(incident_id, refuse=refused_by_api)
    except KeyError:
        raise NotFound("No such incident.", code="incident_not_found", details={"incident_id": incident_id}) from None
    except service.NotRepairable as exc:
        raise Conflict(str(exc), code="not_repairable", details={"incident_id": incident_id}) from None
    if req.audit is not None:
        req.audit.target = f"check:{out['check']}"
        req.audit.params = {"incident_id": incident_id, "repair": out["repair"]}
        req.audit.result["changed"] = out["changed"]
    return out
