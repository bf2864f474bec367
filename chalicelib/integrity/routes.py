"""The scheduled integrity sweep (every few hours, each check reads its next bounded page) and the
console's repair button (one finding's repair; no sweep runs inside an API request)."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint, Rate

from chalicelib.core.api import Req, route, schemas
from chalicelib.core.errors import Conflict, NotFound

bp = Blueprint(__name__)
S = schemas("chalicelib.integrity.schemas")


# The objects the API's role may delete or abort (infra/iam.py, APIHandler): upload objects, never a
# worker's variant (720p, poster) or its own abandoned multipart upload. Repairs on other keys need the
# operator's credentials: `academy doctor --apply`.
_UPLOAD_OBJECT = re.compile(r"^customers/[^/]+/students/[^/]+/(homework/.+|videos/[^/]+/original(-parts)?\.[^/]+)$")
_RESUMABLE_UPLOAD = re.compile(r"^customers/[^/]+/students/[^/]+/videos/[^/]+/original-parts\.[^/]+$")
_KEY_RULES = {"delete_object": _UPLOAD_OBJECT, "abort_upload": _RESUMABLE_UPLOAD}


def refused_by_api(fix: dict[str, Any]) -> str | None:
    """Why the console's button may not carry this repair out (a grant the API's role does not have), or None."""
    rule = _KEY_RULES.get(str(fix.get("action")))
    if rule is not None and not rule.match(str(fix.get("key") or "")):
        return (
            f"The console cannot carry out {fix['action']} on {fix.get('key')!r}: it is not an upload object. "
            "Run `academy doctor --apply` with operator credentials."
        )
    return None


@route(
    bp, "/admin/integrity/repair", "POST", auth="admin", body=S.RepairIn, response=S.RepairOut, errors=(404, 409), tag="incidents"
)
def repair_finding(req: Req) -> dict[str, Any]:
    """Carry out the repair an integrity incident carries (audited; repeating it changes nothing).

    409 ``not_repairable``: not an integrity finding, no automatic repair, or a repair on an object that is
    not an upload object (a worker's variant: ``academy doctor --apply``)."""
    from chalicelib.integrity import sweeps

    try:
        return sweeps.repair_incident(req.body.incident_id, req.actor, refuse=refused_by_api)
    except KeyError:
        raise NotFound("No such incident.", code="incident_not_found", details={"incident_id": req.body.incident_id}) from None
    except sweeps.NotRepairable as exc:
        raise Conflict(str(exc), code="not_repairable", details={"incident_id": req.body.incident_id}) from None


@bp.schedule(Rate(6, unit=Rate.HOURS), name="integrity_sweep")
def integrity_sweep(event: Any) -> dict[str, Any]:
    """Report-only: findings become incidents (with their repairs); ``academy doctor --apply`` repairs."""
    from chalicelib.integrity import scheduled

    return scheduled.run()
