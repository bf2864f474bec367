"""Incident Hub storage: incidents, their groups and the rate-limit counters (pynamodb).

- ``incidents``: one row per stored incident; ``by_group`` (group_id, id) lists a group's
  incidents newest first.
- ``incident-groups``: one row per fingerprint; counts are ``ADD`` updates (atomic under any
  concurrency). Lists are index queries, newest ``last_seen`` first: ``by_kind`` (all groups),
  ``by_status``, ``by_area``, ``by_source``; ``since`` is a range condition on ``last_seen``.
- ``incident-limits``: fixed-window counters keyed ``<scope>#<window start>``. The key names the
  window, so an old counter (whatever TTL has or has not deleted yet) is never read for a new
  window; ``expires_at`` is only housekeeping.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from chalicelib.db import UTCDateTime, decode_token, gsi, iso, meta, new_id, page, utcnow
from chalicelib.errors import NotFound
from chalicelib.incidents import domain
from chalicelib.incidents.domain import Draft, Limits, fit

GROUP_KIND = "incident_group"
_clock = time.time  # the rate windows' clock (tests move it)

# --- models --------------------------------------------------------------------------------------


class Incident(Model):
    Meta = meta("incidents")
    id = UnicodeAttribute(hash_key=True)
    group_id = UnicodeAttribute()
    source = UnicodeAttribute()
    area = UnicodeAttribute()
    message = UnicodeAttribute()
    http_status = NumberAttribute(null=True)
    backend_error = JSONAttribute(null=True)
    entities = JSONAttribute(default=list)
    location = UnicodeAttribute(null=True)
    occurred_at = UnicodeAttribute(null=True)  # the client's clock, as sent (normalised to UTC Z)
    received_at = UTCDateTime()  # the server's clock
    request_id = UnicodeAttribute(null=True)
    context = JSONAttribute(null=True)
    actor_role = UnicodeAttribute()
    actor_id = UnicodeAttribute(null=True)
    claimed_actor = JSONAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    source_ip = UnicodeAttribute(null=True)
    origin = JSONAttribute(null=True)
    dropped = JSONAttribute(null=True)
    truncated = JSONAttribute(default=list)
    by_group = gsi("by_group", "group_id", "id")


class IncidentGroup(Model):
    Meta = meta("incident-groups")
    group_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=GROUP_KIND)
    area = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)  # one per group: backend areas start with "backend."
    http_status = NumberAttribute(null=True)
    title = UnicodeAttribute(null=True)
    count = NumberAttribute(default=0)  # every incident, stored or not
    stored = NumberAttribute(default=0)  # rows in the incidents table
    suppressed = NumberAttribute(default=0)  # counted but not stored (flood control)
    regressions = NumberAttribute(default=0)
    first_seen = UTCDateTime(null=True)
    last_seen = UTCDateTime(null=True)
    status = UnicodeAttribute(null=True)
    prev_status = UnicodeAttribute(null=True)
    latest = JSONAttribute(null=True)
    resolved_at = UTCDateTime(null=True)
    resolved_by = JSONAttribute(null=True)
    resolution_note = UnicodeAttribute(null=True)
    reopened_at = UTCDateTime(null=True)
    reopened_by = JSONAttribute(null=True)
    by_kind = gsi("by_kind", "kind", "last_seen", range_attr=UTCDateTime)
    by_status = gsi("by_status", "status", "last_seen", range_attr=UTCDateTime)
    by_area = gsi("by_area", "area", "last_seen", range_attr=UTCDateTime)
    by_source = gsi("by_source", "source", "last_seen", range_attr=UTCDateTime)


class RateCounter(Model):
    Meta = meta("incident-limits")
    key = UnicodeAttribute(hash_key=True)  # "<scope>#<window start, epoch seconds>"
    hits = NumberAttribute(default=0)
    window_end = NumberAttribute()
    expires_at = TTLAttribute(null=True)


# --- counters ------------------------------------------------------------------------------------


def hit(scope: str, window_s: int, now: float | None = None) -> tuple[int, int]:
    """Count one hit for ``scope`` in the current fixed window: (hits so far, seconds until it ends)."""
    now = _clock() if now is None else now
    start = int(now // window_s) * window_s
    end = start + window_s
    counter = RateCounter(key=f"{scope}#{start}")
    counter.update(
        [
            RateCounter.hits.add(1),
            RateCounter.window_end.set(end),
            RateCounter.expires_at.set(datetime.fromtimestamp(end + 3600, tz=UTC)),
        ]
    )
    return int(counter.hits), max(1, math.ceil(end - now))


def check_rate(actor: dict[str, Any], source_ip: str, limits: Limits | None = None) -> int | None:
    """None when the caller may report, else the seconds to wait (the ``Retry-After``)."""
    limits = limits or domain.LIMITS
    if actor.get("role") in (None, "anonymous") or not actor.get("id"):
        scope, allowed = f"ip:{source_ip}", limits.anonymous_per_window
    else:
        scope, allowed = f"actor:{actor['role']}:{actor['id']}", limits.actor_per_window
    hits, remaining = hit(scope, limits.rate_window_s)
    return remaining if hits > allowed else None


# --- writes --------------------------------------------------------------------------------------


def _latest(incident_id: str, draft: Draft, received: datetime, stored: bool, limits: Limits) -> dict[str, Any]:
    return {
        "id": incident_id,
        "stored": stored,
        "source": draft.source,
        "message": draft.message,
        "http_status": draft.http_status,
        "backend_error": fit(draft.backend_error, limits.latest_backend_error_bytes, limits)[0],
        "entities": draft.entities,
        "location": draft.location,
        "actor": draft.actor,
        "request_id": draft.request_id,
        "occurred_at": draft.occurred_at,
        "received_at": iso(received),
        "dropped": draft.dropped,
    }


def record(draft: Draft, limits: Limits | None = None) -> tuple[str, str, bool]:
    """Count ``draft`` in its group and store its row (unless the group is flooding): (id, group_id, stored).

    A new incident in a resolved group reopens it (a regression, counted in ``regressions``).
    """
    limits = limits or domain.LIMITS
    now = utcnow()
    incident_id = new_id()
    rows, _ = hit(f"group:{draft.group_id}", limits.group_window_s)
    stored = rows <= limits.group_rows_per_window
    G = IncidentGroup
    group = IncidentGroup(group_id=draft.group_id)
    actions = [
        G.count.add(1),
        G.stored.add(1 if stored else 0),
        G.suppressed.add(0 if stored else 1),
        G.kind.set(GROUP_KIND),
        G.area.set(G.area | draft.area),
        G.source.set(G.source | draft.source),
        G.title.set(G.title | draft.title),
        G.first_seen.set(G.first_seen | now),
        G.last_seen.set(now),
        G.prev_status.set(G.status | "open"),
        G.status.set("open"),
        G.latest.set(_latest(incident_id, draft, now, stored, limits)),
    ]
    if draft.http_status is not None:
        actions.append(G.http_status.set(G.http_status | draft.http_status))
    group.update(actions)
    if group.prev_status == "resolved":
        IncidentGroup(group_id=draft.group_id).update(
            [G.regressions.add(1), G.reopened_at.set(now), G.reopened_by.set({"role": "system", "id": "regression"})]
        )
    if stored:
        Incident(
            id=incident_id,
            group_id=draft.group_id,
            source=draft.source,
            area=draft.area,
            message=draft.message,
            http_status=draft.http_status,
            backend_error=draft.backend_error,
            entities=draft.entities,
            location=draft.location,
            occurred_at=draft.occurred_at,
            received_at=now,
            request_id=draft.request_id,
            context=draft.context,
            actor_role=str(draft.actor.get("role") or "anonymous"),
            actor_id=draft.actor.get("id"),
            claimed_actor=draft.claimed_actor,
            user_agent=draft.user_agent,
            source_ip=draft.source_ip,
            origin=draft.origin,
            dropped=draft.dropped,
            truncated=draft.truncated,
        ).save(condition=Incident.id.does_not_exist())
    return incident_id, draft.group_id, stored


def get_group(group_id: str) -> IncidentGroup:
    try:
        return IncidentGroup.get(group_id)
    except IncidentGroup.DoesNotExist as exc:
        raise NotFound(
            f"Incident group {group_id} does not exist.", code="incident_group_not_found", details={"group_id": group_id}
        ) from exc


def set_status(group_id: str, status: str, actor: dict[str, Any], note: str | None = None) -> tuple[IncidentGroup, bool]:
    """Resolve or reopen a group: (group, changed). Doing it twice is not an error (changed=False)."""
    G = IncidentGroup
    group = IncidentGroup(group_id=group_id)
    now = utcnow()
    if status == "resolved":
        actions = [G.status.set("resolved"), G.resolved_at.set(now), G.resolved_by.set(actor)]
        actions.append(G.resolution_note.set(note) if note else G.resolution_note.remove())
    else:
        actions = [G.status.set("open"), G.reopened_at.set(now), G.reopened_by.set(actor)]
    try:
        group.update(actions, condition=G.group_id.exists() & (G.status != status))
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return get_group(group_id), False
    return group, True


# --- reads ---------------------------------------------------------------------------------------


def list_groups(
    limit: int,
    next_token: str | None,
    status: str | None = None,
    area: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
) -> tuple[list[IncidentGroup], str | None]:
    """Groups newest ``last_seen`` first. The most selective filter picks the index; the rest filter it."""
    G = IncidentGroup
    cond = G.last_seen >= since if since else None
    if area:
        index, key, rest = G.by_area, area, [G.status == status if status else None, G.source == source if source else None]
    elif status:
        index, key, rest = G.by_status, status, [G.source == source if source else None]
    elif source:
        index, key, rest = G.by_source, source, []
    else:
        index, key, rest = G.by_kind, GROUP_KIND, []
    filt = None
    for c in rest:
        if c is not None:
            filt = c if filt is None else filt & c
    it = index.query(
        key,
        range_key_condition=cond,
        filter_condition=filt,
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=decode_token(next_token),
    )
    return page(it, limit)


def list_incidents(group_id: str, limit: int, next_token: str | None) -> tuple[list[Incident], str | None]:
    """A group's stored incidents, newest first (ids are ULIDs)."""
    it = Incident.by_group.query(
        group_id, scan_index_forward=False, limit=limit, page_size=limit, last_evaluated_key=decode_token(next_token)
    )
    return page(it, limit)


def group_dict(g: IncidentGroup) -> dict[str, Any]:
    return {
        "group_id": g.group_id,
        "area": g.area,
        "source": g.source,
        "sources": [g.source] if g.source else [],
        "http_status": int(g.http_status) if g.http_status is not None else None,
        "title": g.title,
        "count": int(g.count or 0),
        "stored": int(g.stored or 0),
        "suppressed": int(g.suppressed or 0),
        "regressions": int(g.regressions or 0),
        "first_seen": iso(g.first_seen),
        "last_seen": iso(g.last_seen),
        "status": g.status or "open",
        "latest": g.latest,
        "resolved_at": iso(g.resolved_at),
        "resolved_by": g.resolved_by,
        "resolution_note": g.resolution_note,
        "reopened_at": iso(g.reopened_at),
        "reopened_by": g.reopened_by,
    }


def incident_dict(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "group_id": i.group_id,
        "source": i.source,
        "area": i.area,
        "message": i.message,
        "http_status": int(i.http_status) if i.http_status is not None else None,
        "backend_error": i.backend_error,
        "entities": i.entities or [],
        "location": i.location,
        "occurred_at": i.occurred_at,
        "received_at": iso(i.received_at),
        "request_id": i.request_id,
        "context": i.context,
        "actor": {"role": i.actor_role, "id": i.actor_id},
        "claimed_actor": i.claimed_actor,
        "user_agent": i.user_agent,
        "source_ip": i.source_ip,
        "origin": i.origin,
        "dropped": i.dropped,
        "truncated": i.truncated or [],
    }
