"""The scheduled integrity sweep (every few hours, each check reads its next bounded page), on its own blueprint.

Each run reads at most ``TUNABLES.budget`` rows per check from where the previous run stopped
(``system/integrity-cursors.json``, outside every customer prefix, so no presigned URL targets it) and
starts again from the top once a check went through everything. It files incidents; it never repairs.
"""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Blueprint, Rate

from chalicelib.monitors.service import monitored

CURSORS_KEY = "system/integrity-cursors.json"

bp = Blueprint(__name__)


@bp.schedule(Rate(6, unit=Rate.HOURS), name="integrity_sweep")
@monitored("integrity_sweep")
def integrity_sweep(event: Any) -> dict[str, Any]:
    """Report-only: findings become incidents (with their repairs); ``academy doctor --apply`` repairs."""
    return run()


def _load() -> dict[str, str | None]:
    from botocore.exceptions import ClientError

    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings
    from chalicelib.integrity.service import CHECKS

    try:
        body = aws.client("s3").get_object(Bucket=get_settings().bucket_name, Key=CURSORS_KEY)["Body"].read(64 * 1024)
        value = json.loads(body)
        return {k: v for k, v in value.items() if k in CHECKS and (v is None or isinstance(v, str))}
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
            return {}
        raise
    except ValueError:  # a damaged file: start every check again
        return {}


def _save(cursors: dict[str, str | None]) -> None:
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings

    body = json.dumps(cursors).encode()
    aws.client("s3").put_object(Bucket=get_settings().bucket_name, Key=CURSORS_KEY, Body=body, ContentType="application/json")


def run(budget: int | None = None) -> dict[str, Any]:
    """One scheduled sweep: ``budget`` rows per check (the service's ``TUNABLES.budget`` unless given)."""
    from chalicelib.core.observability import logger, metrics
    from chalicelib.integrity import service

    budget = service.TUNABLES.budget if budget is None else budget
    cursors = _load()
    out: dict[str, Any] = {}
    for name in service.CHECKS:
        try:
            report = service.run_check(name, budget=budget, cursor=cursors.get(name))
        except Exception:  # noqa: BLE001 - one failing check must not stop the others; the next run retries it
            logger.exception("integrity check failed", extra={"check": name})
            out[name] = {"error": True}
            continue
        cursors[name] = report.cursor
        out[name] = {"read": report.read, "found": len(report.findings), "complete": report.cursor is None}
        metrics.add_metric(name="IntegrityFindings", unit="Count", value=len(report.findings))
    _save(cursors)
    logger.info("integrity sweep", extra={"integrity": out})
    return out
