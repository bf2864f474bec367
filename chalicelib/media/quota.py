"""Service support (with its one counter model): per-customer upload quotas, how many uploads, and how
many declared bytes, a customer may start per day.

Counted when an upload starts (that is when a presigned POST for ``size_bytes`` is handed out, used or
not). One conditional ``UpdateItem`` per start on a counter keyed ``upload-quota:<customer>#<day start>``
in the ``incident-limits`` table (the incident rate counters' table): the key names the UTC day, so an
old counter (deleted by TTL or not) is never read for a new day; the condition refuses the start that
would cross either cap and leaves the counter as it was, so concurrent starts can never overshoot.
Over quota → 429 ``upload_quota_exceeded`` with ``Retry-After`` (seconds to the next UTC day) and an
incident in the Incident Hub (``customers.homework.upload.quota``, ``customers.videos.upload.quota``).
Caps: ``ACADEMY_UPLOAD_QUOTA_COUNT`` and ``ACADEMY_UPLOAD_QUOTA_BYTES`` (see settings).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.db import meta, transition
from chalicelib.core.errors import RateLimited
from chalicelib.core.observability import logger, metrics
from chalicelib.core.settings import Settings, get_settings
from chalicelib.media.domain import TooLarge

DAY_S = 24 * 3600


@dataclass(frozen=True)
class QuotaConfig:
    """What the quota depends on: a clock (epoch seconds) and the settings holding the caps.
    Tests swap them: ``dataclasses.replace(quota.config, clock=lambda: NOON)``."""

    clock: Callable[[], float] = time.time
    settings: Callable[[], Settings] = get_settings


config = QuotaConfig()


class UploadQuota(Model):
    """One customer's uploads in one UTC day (shares the rate counters' table; keys never collide)."""

    Meta = meta("incident-limits")
    key = UnicodeAttribute(hash_key=True)  # "upload-quota:<customer id>#<day start, epoch seconds>"
    uploads = NumberAttribute(default=0)
    upload_bytes = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)  # housekeeping only: correctness never depends on it


def quota_key(customer_id: str, day_start: int) -> str:
    return f"upload-quota:{customer_id}#{day_start}"


def usage(customer_id: str, now: float | None = None) -> tuple[int, int]:
    """(uploads, bytes) the customer started today."""
    now = config.clock() if now is None else now
    try:
        row = UploadQuota.get(quota_key(customer_id, int(now // DAY_S) * DAY_S), consistent_read=True)
    except UploadQuota.DoesNotExist:
        return 0, 0
    return int(row.uploads or 0), int(row.upload_bytes or 0)


def reserve(customer_id: str, size_bytes: int, kind: str) -> None:
    """Count one upload of ``size_bytes`` for today, or refuse it (429, nothing counted) when over a cap."""
    s = config.settings()
    max_count, max_bytes = s.upload_quota_count, s.upload_quota_bytes
    if size_bytes > max_bytes:  # never fits, whatever the day: waiting would not help
        raise TooLarge(
            f"The file is {size_bytes} bytes; a customer may upload at most {max_bytes} bytes per day.",
            code="exceeds_daily_quota",
            details={"max_bytes_per_day": max_bytes, "size_bytes": size_bytes},
        )
    now = config.clock()
    start = int(now // DAY_S) * DAY_S
    end = start + DAY_S
    row = UploadQuota(quota_key(customer_id, start))
    condition = (UploadQuota.uploads.does_not_exist() | (UploadQuota.uploads < max_count)) & (
        UploadQuota.upload_bytes.does_not_exist() | (UploadQuota.upload_bytes <= max_bytes - size_bytes)
    )
    actions = [
        UploadQuota.uploads.add(1),
        UploadQuota.upload_bytes.add(size_bytes),
        UploadQuota.expires_at.set(datetime.fromtimestamp(end + DAY_S, UTC)),
    ]
    if transition(row, actions, condition):
        return
    uploads, used = usage(customer_id, now)
    retry_after = max(1, math.ceil(end - now))
    details: dict[str, Any] = {
        "uploads_today": uploads,
        "max_uploads_per_day": max_count,
        "bytes_today": used,
        "max_bytes_per_day": max_bytes,
        "size_bytes": size_bytes,
    }
    which = "uploads" if uploads >= max_count else "bytes"
    message = (
        f"Daily upload limit reached ({max_count} uploads per day)."
        if which == "uploads"
        else f"Daily upload limit reached: {used} of {max_bytes} bytes used today; this file needs {size_bytes}."
    )
    metrics.add_metric(name="UploadQuotaExceeded", unit="Count", value=1)
    _report(customer_id, kind, which, details)
    message += " Try again tomorrow (UTC)."
    raise RateLimited(message, code="upload_quota_exceeded", retry_after=retry_after, details=details)


def _report(customer_id: str, kind: str, which: str, details: dict[str, Any]) -> None:
    """An incident for the admins (grouped per cap; flood control bounds the rows). Never fails the request."""
    from chalicelib.incidents import domain, service

    try:
        draft = domain.build_draft(
            source="backend",
            area=f"customers.{kind}.upload.quota",
            message=f"A customer went over the daily upload {which} quota.",
            actor={"role": "customer", "id": customer_id},
            http_status=429,
            backend_error={"type": "UploadQuotaExceeded", "message": f"daily {which} quota exceeded"},
            entities=[{"type": "customer", "id": customer_id}],
            context=details,
        )
        service.record(draft)
    except Exception:  # noqa: BLE001 - the 429 stands whatever happens to the report
        logger.warning("could not record the upload-quota incident", exc_info=True)
