"""The scheduled integrity sweep (every few hours, each check reads its next bounded page) and the
console's repair button (one finding's repair; no sweep runs inside an API request)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.api import Req, route, schemas
from chalicelib.errors import Conflict, NotFound

bp = Blueprint(__name__)
S = schemas("chalicelib.integrity.schemas")


@route(
    bp, "/admin/integrity/repair", "POST", auth="admin", body=S.RepairIn, response=S.RepairOut, errors=(404, 409), tag="incidents"
)
def repair_finding(req: Req) -> dict[str, Any]:
    """Carry out the repair an integrity incident carries (audited; repeating it changes nothing)."""
    from chalicelib.integrity import sweeps

    try:
        return sweeps.repair_incident(req.body.incident_id, req.actor)
    except KeyError:
        raise NotFound("No such incident.", code="incident_not_found", details={"incident_id": req.body.incident_id}) from None
    except sweeps.NotRepairable as exc:
        raise Conflict(str(exc), code="not_repairable", details={"incident_id": req.body.incident_id}) from None


@bp.schedule(Rate(6, unit=Rate.HOURS), name="integrity_sweep")
def integrity_sweep(event: Any) -> dict[str, Any]:
    """Report-only: findings become incidents (with their repairs); ``academy doctor --apply`` repairs."""
    from chalicelib.integrity import scheduled

    return scheduled.run()
