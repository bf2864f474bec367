"""The scheduled sweep: a budget per check per run, resumed from a cursor kept in the media bucket.

Each run reads at most ``sweeps.DEFAULT_BUDGET`` rows per check from where the previous run stopped
(``system/integrity-cursors.json``, outside every customer prefix, so no presigned URL targets it) and
starts again from the top once a check went through everything. It files incidents; it never repairs.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.observability import logger, metrics
from chalicelib.core.settings import get_settings
from chalicelib.integrity import sweeps

CURSORS_KEY = "system/integrity-cursors.json"


def _load() -> dict[str, str | None]:
    try:
        body = aws.client("s3").get_object(Bucket=get_settings().bucket_name, Key=CURSORS_KEY)["Body"].read(64 * 1024)
        value = json.loads(body)
        return {k: v for k, v in value.items() if k in sweeps.CHECKS and (v is None or isinstance(v, str))}
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
            return {}
        raise
    except ValueError:  # a damaged file: start every check again
        return {}


def _save(cursors: dict[str, str | None]) -> None:
    body = json.dumps(cursors).encode()
    aws.client("s3").put_object(Bucket=get_settings().bucket_name, Key=CURSORS_KEY, Body=body, ContentType="application/json")


def run(budget: int | None = None) -> dict[str, Any]:
    """One scheduled sweep: ``budget`` rows per check (``sweeps.DEFAULT_BUDGET`` unless given)."""
    budget = sweeps.DEFAULT_BUDGET if budget is None else budget
    cursors = _load()
    out: dict[str, Any] = {}
    for name in sweeps.CHECKS:
        try:
            report = sweeps.run_check(name, budget=budget, cursor=cursors.get(name))
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
