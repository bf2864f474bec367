"""The audit log: every admin write (route or CLI) records who did what, to what, and how it went.

One helper, :func:`record`, is what every admin write calls. Entries are listed newest first by
index queries (all, per actor, per action), never scans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, gsi, iso, meta, new_id, query_page, utcnow
from chalicelib.core.observability import logger, metrics

KIND = "audit"


def min_id_at(moment: datetime) -> str:
    """The smallest ULID of a moment, for ``id >= since`` range conditions (clamped to ULID's 48-bit time range)."""
    from ulid import ULID

    ms = min(max(int(moment.timestamp() * 1000), 0), 2**48 - 1)  # before 1970: every id; far future: none
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + bytes(10)))


class AuditEntry(Model):
    Meta = meta("audit")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=KIND)
    actor_role = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute(null=True)
    params = JSONAttribute(null=True)
    result = JSONAttribute(null=True)
    at = UTCDateTime()
    by_kind = gsi("by_kind", "kind", "id")
    by_actor = gsi("by_actor", "actor_id", "id")
    by_action = gsi("by_action", "action", "id")


def record(
    actor: dict[str, Any],
    action: str,
    target: str | None = None,
    params: dict[str, Any] | None = None,
    result: Any = None,
) -> AuditEntry | None:
    """Append one audit entry. Never raises: the action it describes has already happened."""
    entry = AuditEntry(
        id=new_id(),
        actor_role=str(actor.get("role") or "unknown"),
        actor_id=str(actor.get("id") or "unknown"),
        action=action,
        target=target,
        params=params or {},
        result=result,
        at=utcnow(),
    )
    try:
        entry.save()
    except Exception:  # noqa: BLE001
        logger.exception("audit write failed", extra={"action": action, "target": target})
        metrics.add_metric(name="AuditWriteFailed", unit="Count", value=1)
        return None
    return entry


def list_entries(
    limit: int,
    next_token: str | None,
    actor_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> tuple[list[AuditEntry], str | None]:
    """Newest first: one actor's entries (optionally of one action), one action's, or everyone's."""
    cond = AuditEntry.id >= min_id_at(since) if since else None
    window: dict[str, Any] = {"limit": limit, "next_token": next_token, "range_key_condition": cond, "newest_first": True}
    if actor_id:
        filt = AuditEntry.action == action if action else None
        return query_page(AuditEntry.by_actor.query, actor_id, filter_condition=filt, **window)
    if action:
        return query_page(AuditEntry.by_action.query, action, **window)
    return query_page(AuditEntry.by_kind.query, KIND, **window)


def to_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "actor": {"role": e.actor_role, "id": e.actor_id},
        "action": e.action,
        "target": e.target,
        "params": e.params,
        "result": e.result,
        "at": iso(e.at),
    }
