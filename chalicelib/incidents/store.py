"""Incident Hub storage: incidents, their groups and the rate-limit counters (pynamodb).

- ``incidents``: one row per stored incident; ``by_group`` (group_id, id) lists a group's
  incidents newest first.
- ``incident-groups``: one row per fingerprint; counts are ``ADD`` updates (atomic under any
  concurrency). The row also carries the flood window (``flood_window`` start, ``flood_rows``
  stored in it), so one conditional UpdateItem both counts an incident and decides whether its
  row may be stored (see :func:`count_in_group`). Lists are index queries, newest ``last_seen`` first:
  ``by_kind`` (all groups), ``by_status``, ``by_area``, ``by_source``; ``since`` is a range
  condition on ``last_seen``.
- ``incident-limits``: fixed-window counters keyed ``<scope>#<window start>``: the hits containers
  claimed (never past the budget, see :func:`claim`). The key names the window, so an old counter
  (whatever TTL has or has not deleted yet) is never read for a new window; ``expires_at`` is only
  housekeeping.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError
from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, condition_failed, gsi, iso, meta, new_id, query_page, transition
from chalicelib.core.errors import Conflicting, Missing
from chalicelib.incidents.domain import Draft, Limits, LinkRef, claim_size, fit

if TYPE_CHECKING:
    from pynamodb.expressions.update import Action

GROUP_KIND = "incident_group"

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
    job_id = UnicodeAttribute(null=True)  # a backend.job.<type> incident's job (sparse by_job: a job's incidents)
    by_group = gsi("by_group", "group_id", "id")
    by_job = gsi("by_job", "job_id", "id")


class IncidentGroup(Model):
    Meta = meta("incident-groups")
    group_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=GROUP_KIND)
    area = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)  # one per group: backend areas start with "backend."
    http_status = NumberAttribute(null=True)
    title = UnicodeAttribute(null=True)
    # every incident, stored or not (stored = count - suppressed); the table's attribute is "count", which
    # shadows Model.count (a classmethod) on this model only: nothing counts groups with a query
    count = NumberAttribute(default=0)  # type: ignore[assignment]
    suppressed = NumberAttribute(default=0)  # counted but not stored (flood control)
    regressions = NumberAttribute(default=0)
    first_seen = UTCDateTime(null=True)
    last_seen = UTCDateTime(null=True)
    status = UnicodeAttribute(null=True)
    flood_window = NumberAttribute(null=True)  # start of the current flood window, epoch seconds
    flood_rows = NumberAttribute(null=True)  # rows stored in that window
    window_count = NumberAttribute(null=True)  # incidents counted in that window, stored or not (the spike signal)
    latest = JSONAttribute(null=True)
    resolved_at = UTCDateTime(null=True)
    resolved_by = JSONAttribute(null=True)
    resolution_note = UnicodeAttribute(null=True)
    reopened_at = UTCDateTime(null=True)
    reopened_by = JSONAttribute(null=True)
    # triage: a snoozed group wakes (reopens) at a time (snooze_until) or at its Nth incident (snooze_left counts down)
    snooze_until = UTCDateTime(null=True)
    snooze_left = NumberAttribute(null=True)
    snoozed_by = JSONAttribute(null=True)
    # snoozed until it escalates: wake at the spike_n-th incident within spike_s seconds of a window's first
    # incident (spike_w: that first incident's time, epoch seconds; spike_c: incidents counted in the window)
    spike_n = NumberAttribute(null=True)
    spike_s = NumberAttribute(null=True)
    spike_w = NumberAttribute(null=True)
    spike_c = NumberAttribute(null=True)
    assignee = UnicodeAttribute(null=True)  # an admin's id
    timeline_n = NumberAttribute(null=True)  # timeline entries written (bounded by TIMELINE_MAX)
    last_note = UnicodeAttribute(null=True)  # digest of the last note (the same note twice is one entry)
    title_key = UnicodeAttribute(null=True)  # the title case-folded (search by title prefix: by_title)
    by_kind = gsi("by_kind", "kind", "last_seen", range_attr=UTCDateTime)
    by_status = gsi("by_status", "status", "last_seen", range_attr=UTCDateTime)
    by_area = gsi("by_area", "area", "last_seen", range_attr=UTCDateTime)
    by_source = gsi("by_source", "source", "last_seen", range_attr=UTCDateTime)
    by_title = gsi("by_title", "kind", "title_key")


class TimelineEntry(Model):
    """One line of a group's timeline (created, assigned, resolved, reopened, snoozed, noted), oldest first."""

    Meta = meta("incident-timeline")
    group_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)  # ULID: creation order
    event = UnicodeAttribute()
    at = UTCDateTime()
    actor = JSONAttribute(null=True)
    details = JSONAttribute(null=True)


TIMELINE_MAX = 500  # entries per group; admin writes past it answer 409


class IncidentLink(Model):
    """A job or an entity a group's incidents named, written once: when the group first saw it.

    Key ``(group_id, link)``, the link ``job#<job id>`` or ``entity#<type>#<id>`` (so a group's jobs and
    its entities are each one key range); ``by_link`` (link, first_seen) answers "which groups named this
    entity (or job)", newest first.
    """

    Meta = meta("incident-links")
    group_id = UnicodeAttribute(hash_key=True)
    link = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # job | entity
    ref_type = UnicodeAttribute()  # the job's type or the entity's
    ref_id = UnicodeAttribute()
    first_seen = UTCDateTime()
    first_incident_id = UnicodeAttribute()
    by_link = gsi("by_link", "link", "first_seen", range_attr=UTCDateTime)


class RateCounter(Model):
    Meta = meta("incident-limits")
    key = UnicodeAttribute(hash_key=True)  # "<scope>#<window start, epoch seconds>"
    hits = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)


# --- low-level writes ----------------------------------------------------------------------------
# The intake's writes are hand-written UpdateItem expressions sent through pynamodb's own botocore
# client (same endpoint, retries and timeouts): each names only what it changes, returns only what
# the caller reads, and a failed condition hands back the row it saw (ALL_OLD) instead of costing
# a read.

_PLACEHOLDER = re.compile(r"[#:]\w+")


class UpdateItem(Protocol):
    """The one write the intake makes (see :func:`update_item`); tests wrap it to count or interleave writes."""

    def __call__(
        self,
        model: type[Model],
        key: dict[str, Any],
        update: str,
        names: dict[str, str],
        values: dict[str, Any],
        condition: str | None = None,
        return_values: str = "NONE",
    ) -> dict[str, Any]: ...


def _client(model: type[Model]) -> Any:
    return model._get_connection().connection.client


@functools.lru_cache(maxsize=256)
def _placeholders(update: str, condition: str | None) -> frozenset[str]:
    """The ``#name``/``:value`` placeholders two expressions use (the intake's expressions are few and fixed)."""
    return frozenset(_PLACEHOLDER.findall(update + " " + (condition or "")))


def update_item(
    model: type[Model],
    key: dict[str, Any],
    update: str,
    names: dict[str, str],
    values: dict[str, Any],
    condition: str | None = None,
    return_values: str = "NONE",
) -> dict[str, Any]:
    """One UpdateItem; ``names``/``values`` may hold more placeholders than the expressions use (only used ones are sent)."""
    used = _placeholders(update, condition)
    kwargs: dict[str, Any] = {
        "TableName": model.Meta.table_name,
        "Key": key,
        "UpdateExpression": update,
        "ExpressionAttributeNames": {p: n for p, n in names.items() if p in used},
        "ExpressionAttributeValues": {p: v for p, v in values.items() if p in used},
        "ReturnValues": return_values,
    }
    if condition:
        kwargs["ConditionExpression"] = condition
        kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    out: dict[str, Any] = _client(model).update_item(**kwargs)
    return out


# --- counters ------------------------------------------------------------------------------------


_CLAIM_ATTEMPTS = 8  # each retry follows other containers' claims in between (every one shrinks the claim)


def claim(scope: str, window: int, window_s: int, want: int, allowed: int, update: UpdateItem = update_item) -> tuple[int, int]:
    """Claim up to ``want`` hits of ``scope``'s budget of ``allowed`` in the fixed window starting at
    ``window``: (hits granted, the counter after). 0 granted: the window's budget is used up.

    One conditional ``ADD``: the counter never passes ``allowed``, so concurrent claims (any number of
    containers) never admit more than the budget. A claim that does not fit shrinks to half of what is
    left (the row a failed condition returns says how much) and is tried again.
    """
    n = max(1, min(want, allowed))
    for _ in range(_CLAIM_ATTEMPTS):
        try:
            out = update(
                RateCounter,
                {"key": {"S": f"{scope}#{window}"}},
                "ADD #h :n SET #e = :e",
                {"#h": "hits", "#e": "expires_at"},
                {":n": {"N": str(n)}, ":room": {"N": str(allowed - n)}, ":e": {"N": str(window + window_s + 3600)}},
                condition="attribute_not_exists(#h) OR #h <= :room",
                return_values="UPDATED_NEW",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            hits = int((exc.response.get("Item") or {}).get("hits", {}).get("N", allowed))
            if hits >= allowed:
                return 0, hits
            n = claim_size(allowed, hits)
            continue
        return n, int(out["Attributes"]["hits"]["N"])
    return 0, allowed  # the counter moved under every attempt: refuse this one (never admit past the budget)


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


_GROUP_NAMES = {
    "#id": "group_id",
    "#kind": "kind",
    "#area": "area",
    "#src": "source",
    "#title": "title",
    "#http": "http_status",
    "#n": "count",
    "#sup": "suppressed",
    "#reg": "regressions",
    "#first": "first_seen",
    "#last": "last_seen",
    "#s": "status",
    "#latest": "latest",
    "#rat": "reopened_at",
    "#rby": "reopened_by",
    "#fw": "flood_window",
    "#fr": "flood_rows",
    "#su": "snooze_until",
    "#sl": "snooze_left",
    "#sby": "snoozed_by",
    "#tk": "title_key",
    "#wn": "window_count",
    "#spn": "spike_n",
    "#sps": "spike_s",
    "#spw": "spike_w",
    "#spc": "spike_c",
}
_SPIKE_BY = {"role": "system", "id": "spike"}
_SNOOZE_ATTRS = ("#su", "#sl", "#sby", "#spn", "#sps", "#spw", "#spc")  # what waking removes
WAKES = ("snoozed_wake", "snoozed_spike_wake")
_REGRESSION_BY = {"role": "system", "id": "regression"}
_WAKE_BY = {"role": "system", "id": "snooze"}
_REGRESSION_BY_JSON = json.dumps(_REGRESSION_BY)
_WAKE_BY_JSON = json.dumps(_WAKE_BY)
_MAX_GROUP_ATTEMPTS = 8  # each retry follows a change another writer made to the row in between


@functools.cache
def _group_expressions(case: str, status: str | None, with_http: bool) -> tuple[str, str]:
    """(update, condition) for one intake, given what the row looked like (or is assumed to look like).

    ``case``: ``new`` (no row yet), ``count`` (window current, under the limit: one more row),
    ``restart`` (the row's window is older: a new window starting at one row), ``flood`` (window
    current and full: counted, not stored). ``status`` is the row's status (a resolved group reopens:
    a regression). Every condition pins exactly the facts the decision read, so concurrent intakes
    cannot both take the last row of a window or both count one regression.
    """
    sets = ["#last = :now", "#latest = :latest"]
    adds = ["#n :one"]
    if case == "new":
        sets += ["#kind = :kind", "#area = :area", "#src = :src", "#title = :title", "#tk = :tk", "#first = :now", "#s = :open"]
        sets += ["#fw = :w", "#fr = :one", "#wn = :one"] + (["#http = :http"] if with_http else [])
        return "SET " + ", ".join(sets) + " ADD " + ", ".join(adds), "attribute_not_exists(#id)"
    if case == "count":
        adds += ["#fr :one", "#wn :one"]
        cond = "#fw = :w AND #fr < :lim"
    elif case == "restart":
        sets += ["#fw = :w", "#fr = :one", "#wn = :one"]
        cond = "(attribute_not_exists(#fw) OR #fw < :w)"
    else:  # flood
        adds += ["#sup :one", "#wn :one"]
        cond = "#fw = :w AND #fr >= :lim"
    removes: list[str] = []
    if status == "open":
        cond += " AND #s = :open"
    elif status == "snoozed_hold":  # snoozed until a time still ahead: counted, still snoozed
        cond += " AND #s = :snoozed AND attribute_not_exists(#sl) AND #su > :now"
    elif status == "snoozed_count":  # snoozed until N more: one fewer to go
        adds.append("#sl :minus")
        cond += " AND #s = :snoozed AND #sl > :one"
    elif status == "snoozed_wake":  # the Nth incident, or the time has passed: reopen (exactly one intake wins)
        sets += ["#s = :open", "#rat = :now", "#rby = :wakeby"]
        removes += _SNOOZE_ATTRS
        cond += " AND #s = :snoozed AND (#sl = :one OR #su <= :now)"
    elif status is not None and status.startswith("snoozed_spike"):
        cond += " AND #s = :snoozed AND attribute_exists(#spn)"
        more_sets, more_adds, more_removes, spike_cond = _spike_expressions(status)
        sets += more_sets
        adds += more_adds
        removes += more_removes
        cond += spike_cond
    else:
        sets += ["#s = :open"]
        if status == "resolved":
            sets += ["#rat = :now", "#rby = :regby"]
            adds.append("#reg :one")
            cond += " AND #s = :resolved"
        else:
            cond += " AND attribute_not_exists(#s)"
    tail = (" REMOVE " + ", ".join(removes)) if removes else ""
    return "SET " + ", ".join(sets) + " ADD " + ", ".join(adds) + tail, cond


def _spike_expressions(status: str) -> tuple[list[str], list[str], list[str], str]:
    """(sets, adds, removes, condition) of an incident in a group snoozed until it escalates.

    ``snoozed_spike_new``: no window yet, or the last one started ``spike_s`` or more ago: this incident
    starts one (count 1). ``snoozed_spike_count``: inside the window, still short of the threshold after
    it. ``snoozed_spike_wake``: inside the window and the ``spike_n``-th: reopen. Each condition pins the
    window and the count it read, so of concurrent intakes exactly one takes the crossing.
    """
    if status == "snoozed_spike_new":
        return ["#spw = :spnow", "#spc = :one"], [], [], " AND (attribute_not_exists(#spw) OR #spw <= :spcut)"
    if status == "snoozed_spike_count":
        return [], ["#spc :one"], [], " AND #spw > :spcut AND #spc < :spn1"
    # snoozed_spike_wake
    sets = ["#s = :open", "#rat = :now", "#rby = :spikeby"]
    return sets, [], list(_SNOOZE_ATTRS), " AND #spw > :spcut AND #spc = :spn1"


def spike_values(old: dict[str, Any] | None, received: datetime) -> dict[str, Any]:
    """The placeholders a spike-snoozed row's expressions need (window cut-off, threshold), from the row seen."""
    if not old or "spike_n" not in old:
        return {}
    now = int(received.timestamp())
    seconds = int(old.get("spike_s", {}).get("N", "0"))
    return {
        ":spnow": {"N": str(now)},
        ":spcut": {"N": str(now - seconds)},
        ":spn1": {"N": str(int(old["spike_n"]["N"]) - 1)},
        ":spikeby": {"S": _json(_SPIKE_BY)},
    }


def _spike_state(old: dict[str, Any], now_epoch: int) -> str:
    seconds = int(old.get("spike_s", {}).get("N", "0"))
    started = int(old["spike_w"]["N"]) if "spike_w" in old else None
    if started is None or started <= now_epoch - seconds:
        return "snoozed_spike_new"
    counted = int(old.get("spike_c", {}).get("N", "0"))
    return "snoozed_spike_wake" if counted + 1 >= int(old["spike_n"]["N"]) else "snoozed_spike_count"


def _snooze_state(old: dict[str, Any], now_stamp: str) -> str:
    """Which snoozed case the row is in for an incident received at ``now_stamp``."""
    if "spike_n" in old:
        when = IncidentGroup.last_seen.deserialize(now_stamp)  # type: ignore[no-untyped-call]  # pynamodb leaves it untyped
        return _spike_state(old, int(when.timestamp()))
    if "snooze_left" in old:
        return "snoozed_count" if int(old["snooze_left"]["N"]) > 1 else "snoozed_wake"
    until = old.get("snooze_until", {}).get("S")
    return "snoozed_hold" if until is not None and until > now_stamp else "snoozed_wake"


def _group_case(old: dict[str, Any] | None, window: int, limit: int, now_stamp: str = "") -> tuple[str, str | None, int]:
    """(case, status, window) from the row a failed condition returned (None: there is no row)."""
    if old is None:
        return "new", None, window
    status = old.get("status", {}).get("S")
    if status == "snoozed":
        status = _snooze_state(old, now_stamp)
    row_window = int(old["flood_window"]["N"]) if "flood_window" in old else None
    if row_window is None or row_window < window:
        return "restart", status, window
    # the row's window is current (or ahead: another writer's clock; count in its window)
    rows = int(old.get("flood_rows", {}).get("N", "0"))
    return ("count" if rows < limit else "flood"), status, row_window


def count_in_group(
    draft: Draft,
    incident_id: str,
    received: datetime,
    *,
    window: int,
    limits: Limits,
    assume_flooding: bool = False,
    update: UpdateItem = update_item,
    events: list[str] | None = None,
) -> tuple[bool, int]:
    """Count one incident in its group (creating or reopening it as needed): (its row may be stored, the window it counted in).

    The common case is one conditional UpdateItem (current window, under the limit, group open; or,
    with ``assume_flooding``, counted as suppressed). When its condition fails, the row it saw
    comes back and decides the one write that fits: start the group, start a new window, reopen a
    resolved group, or count a flooding incident as suppressed.

    ``events`` gets what this write did: ``created``, ``reopened`` (a regression), ``woke`` (a snooze
    ended) and ``spiked`` (it was the window's ``limits.spike_incidents``-th incident: read from the
    write's own UPDATED_NEW, so no extra call, and the counter is atomic, so exactly one intake).
    """
    # assumed until the row says otherwise
    case: str = "flood" if assume_flooding else "count"
    status: str | None = "open"
    values: dict[str, Any] = {
        ":now": {"S": _stamp(received)},
        ":one": {"N": "1"},
        ":lim": {"N": str(limits.group_rows_per_window)},
        ":open": {"S": "open"},
        ":resolved": {"S": "resolved"},
        ":regby": {"S": _REGRESSION_BY_JSON},
        ":kind": {"S": GROUP_KIND},
        ":area": {"S": draft.area},
        ":src": {"S": draft.source},
        ":title": {"S": draft.title},
        ":tk": {"S": title_key(draft.title)},
        ":snoozed": {"S": "snoozed"},
        ":minus": {"N": "-1"},
        ":wakeby": {"S": _WAKE_BY_JSON},
    }
    if draft.http_status is not None:
        values[":http"] = {"N": str(draft.http_status)}
    key = {"group_id": {"S": draft.group_id}}
    for _ in range(_MAX_GROUP_ATTEMPTS):
        stored = case != "flood"
        values[":w"] = {"N": str(window)}
        values[":latest"] = {"S": _json(_latest(incident_id, draft, received, stored, limits))}
        expression, condition = _group_expressions(case, status, draft.http_status is not None)
        try:
            out = update(IncidentGroup, key, expression, _GROUP_NAMES, values, condition, "UPDATED_NEW")
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            seen = exc.response.get("Item")
            case, status, window = _group_case(seen, window, limits.group_rows_per_window, values[":now"]["S"])
            values.update(spike_values(seen, received))
            continue
        if events is not None:  # what this write did to the group (its condition held: no other intake did it)
            if case == "new":
                events.append("created")
            elif status == "resolved":
                events.append("reopened")
            elif status in WAKES:
                events.append("woke_spike" if status == "snoozed_spike_wake" else "woke")
            if _window_count(out) == limits.spike_incidents:  # the atomic ADD: exactly one intake sees N
                events.append("spiked")
        return stored, window
    raise RuntimeError(f"incident group {draft.group_id} changed {_MAX_GROUP_ATTEMPTS} times while counting one incident")


def _window_count(out: dict[str, Any]) -> int | None:
    """The group's incidents in the current window after this write (from the UpdateItem's UPDATED_NEW)."""
    value = out.get("Attributes", {}).get("window_count", {}).get("N")
    return int(value) if value is not None else None


def _json(value: Any) -> str:
    """A JSON attribute's stored form (what ``JSONAttribute.serialize`` writes for a value)."""
    return json.dumps(value)


@functools.lru_cache(maxsize=8)  # one intake stamps its received time on the group and the row
def _stamp(when: datetime) -> str:
    """A ``UTCDateTime`` attribute's stored form."""
    out: str = IncidentGroup.last_seen.serialize(when)  # type: ignore[no-untyped-call]  # pynamodb leaves it untyped
    return out


def put_incident(incident_id: str, draft: Draft, received: datetime) -> None:
    """Store an incident's row: one PutItem of the item as :class:`Incident` stores it (built here, not
    through a model instance: the intake's hot path). No condition: the id is a fresh ULID, and a
    retried put writes the same row again."""
    item: dict[str, Any] = {
        "id": {"S": incident_id},
        "group_id": {"S": draft.group_id},
        "source": {"S": draft.source},
        "area": {"S": draft.area},
        "message": {"S": draft.message},
        "entities": {"S": _json(draft.entities)},
        "received_at": {"S": _stamp(received)},
        "actor_role": {"S": str(draft.actor.get("role") or "anonymous")},
        "truncated": {"S": _json(draft.truncated)},
    }
    if draft.http_status is not None:
        item["http_status"] = {"N": str(draft.http_status)}
    for name, text in (
        ("location", draft.location),
        ("occurred_at", draft.occurred_at),
        ("request_id", draft.request_id),
        ("actor_id", draft.actor.get("id")),
        ("user_agent", draft.user_agent),
        ("source_ip", draft.source_ip),
        ("job_id", _job_of(draft)),  # a job's incidents: the sparse by_job index
    ):
        if text is not None:
            item[name] = {"S": str(text)}
    for name, value in (
        ("backend_error", draft.backend_error),
        ("context", draft.context),
        ("claimed_actor", draft.claimed_actor),
        ("origin", draft.origin),
        ("dropped", draft.dropped),
    ):
        if value is not None:
            item[name] = {"S": _json(value)}
    job_id = _job_of(draft)
    if job_id is not None:
        item["job_id"] = {"S": job_id}  # the sparse by_job index: a job's page lists its incidents
    _client(Incident).put_item(TableName=Incident.Meta.table_name, Item=item)


def _job_of(draft: Draft) -> str | None:
    origin = draft.origin or {}
    job_id = origin.get("job_id")
    return job_id[:128] if origin.get("kind") == "job" and isinstance(job_id, str) and job_id else None


# --- links: the jobs and entities a group's incidents name -----------------------------------------


def put_link(group_id: str, ref: LinkRef, incident_id: str, received: datetime) -> bool:
    """Record that ``group_id`` named ``ref`` (False: it already had: the first sighting is kept)."""
    from pynamodb.exceptions import PutError

    link = IncidentLink(
        group_id=group_id,
        link=ref.key,
        kind=ref.kind,
        ref_type=ref.ref_type or "-",
        ref_id=ref.ref_id,
        first_seen=received,
        first_incident_id=incident_id,
    )
    try:
        link.save(condition=IncidentLink.link.does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def list_links(group_id: str, kind: str | None, limit: int, next_token: str | None) -> tuple[list[IncidentLink], str | None]:
    """A group's links in key order (``kind``: only its jobs, or only its entities)."""
    cond = IncidentLink.link.startswith(f"{kind}#") if kind else None
    return query_page(IncidentLink.query, group_id, limit=limit, next_token=next_token, range_key_condition=cond)


def groups_naming(link_key: str, limit: int, next_token: str | None) -> tuple[list[IncidentLink], str | None]:
    """The links to one entity (or job) from every group that named it, newest first sighting first."""
    return query_page(IncidentLink.by_link.query, link_key, limit=limit, next_token=next_token, newest_first=True)


def get_groups(group_ids: list[str]) -> dict[str, IncidentGroup]:
    """Groups by id, one BatchGetItem per 100 (missing ones left out)."""
    ids = list(dict.fromkeys(group_ids))
    return {g.group_id: g for g in IncidentGroup.batch_get(ids)} if ids else {}


def job_incidents(job_id: str, limit: int, next_token: str | None) -> tuple[list[Incident], str | None]:
    """The stored incidents a job's failures filed, newest first (the sparse ``by_job`` index)."""
    return query_page(Incident.by_job.query, job_id, limit=limit, next_token=next_token, newest_first=True)


def link_dict(link: IncidentLink) -> dict[str, Any]:
    return {
        "kind": link.kind,
        "type": None if link.ref_type == "-" else link.ref_type,
        "id": link.ref_id,
        "first_seen": iso(link.first_seen),
        "first_incident_id": link.first_incident_id,
    }


def get_group(group_id: str) -> IncidentGroup:
    try:
        return IncidentGroup.get(group_id)
    except IncidentGroup.DoesNotExist as exc:
        raise Missing(
            f"Incident group {group_id} does not exist.", code="incident_group_not_found", details={"group_id": group_id}
        ) from exc


def set_status(
    group_id: str, status: str, actor: dict[str, Any], now: datetime, note: str | None = None
) -> tuple[IncidentGroup, bool]:
    """Resolve or reopen a group: (group, changed). Doing it twice is not an error (changed=False)."""
    G = IncidentGroup
    group = IncidentGroup(group_id=group_id)
    actions: list[Action]
    if status == "resolved":
        actions = [G.status.set("resolved"), G.resolved_at.set(now), G.resolved_by.set(actor)]
        actions.append(G.resolution_note.set(note) if note else G.resolution_note.remove())
    else:
        actions = [G.status.set("open"), G.reopened_at.set(now), G.reopened_by.set(actor)]
    actions += [*_unsnooze(), G.timeline_n.add(1)]  # its timeline entry counts toward the cap like any admin entry
    if not transition(group, actions, G.group_id.exists() & (G.status != status) & _room()):
        current = get_group(group_id)
        if (current.status or "open") == status:
            return current, False
        if not _has_room(current):
            raise _full(group_id)
        raise Conflicting(
            f"Incident group {group_id} changed while its status was being set; try again.",
            code="incident_group_busy",
            details={"group_id": group_id},
        )
    return group, True


# --- triage: snooze, assign, notes, the timeline --------------------------------------------------


def _unsnooze() -> list[Action]:
    G = IncidentGroup
    return [G.snooze_until.remove(), G.snooze_left.remove(), G.snoozed_by.remove(), *_spike_reset()]


def _spike_reset() -> list[Action]:
    G = IncidentGroup
    return [G.spike_n.remove(), G.spike_s.remove(), G.spike_w.remove(), G.spike_c.remove()]


def system_actor(event: str) -> dict[str, Any]:
    """Who the intake says changed a group: a regression, a snooze that ended, or a spike that woke it."""
    return dict({"woke": _WAKE_BY, "woke_spike": _SPIKE_BY}.get(event, _REGRESSION_BY))


def wake_details(event: str) -> dict[str, Any]:
    """What a ``reopened`` timeline entry the intake writes says about why (empty for a regression)."""
    return {"woke": {"reason": "snooze_ended"}, "woke_spike": {"reason": "spike"}}.get(event, {})


def add_entry(
    group_id: str, event: str, now: datetime, actor: dict[str, Any] | None, details: dict[str, Any] | None = None
) -> None:
    """Append one timeline entry (its id is new: a ULID)."""
    TimelineEntry(group_id=group_id, entry_id=new_id(), event=event, at=now, actor=actor, details=details).save(
        condition=TimelineEntry.entry_id.does_not_exist()
    )


def _room() -> Any:
    G = IncidentGroup
    return G.timeline_n.does_not_exist() | (G.timeline_n < TIMELINE_MAX)


def _full(group_id: str) -> Conflicting:
    return Conflicting(
        f"Incident group {group_id}'s timeline holds {TIMELINE_MAX} entries; no more admin entries fit.",
        code="incident_timeline_full",
        details={"group_id": group_id, "max": TIMELINE_MAX},
    )


def snooze(
    group_id: str,
    until: datetime | None,
    left: int | None,
    actor: dict[str, Any],
    now: datetime,
    spike: tuple[int, int] | None = None,
) -> tuple[IncidentGroup, bool]:
    """Snooze a group until a time, until ``left`` more incidents, or until it escalates (``spike``: N
    incidents within S seconds): (group, changed). The same snooze twice: changed=False. A new spike
    snooze starts counting afresh."""
    G = IncidentGroup
    group = IncidentGroup(group_id=group_id)
    actions: list[Action] = [G.status.set("snoozed"), G.snoozed_by.set(actor), G.timeline_n.add(1)]
    actions.append(G.snooze_until.set(until) if until is not None else G.snooze_until.remove())
    actions.append(G.snooze_left.set(left) if left is not None else G.snooze_left.remove())
    actions += [G.spike_w.remove(), G.spike_c.remove()]
    actions += [G.spike_n.set(spike[0]), G.spike_s.set(spike[1])] if spike else [G.spike_n.remove(), G.spike_s.remove()]
    same = G.status == "snoozed"
    same &= (G.snooze_until == until) if until is not None else G.snooze_until.does_not_exist()
    same &= (G.snooze_left == left) if left is not None else G.snooze_left.does_not_exist()
    same &= ((G.spike_n == spike[0]) & (G.spike_s == spike[1])) if spike else G.spike_n.does_not_exist()
    if not transition(group, actions, G.group_id.exists() & ~same & _room()):
        current = get_group(group_id)
        same_left = (int(current.snooze_left) if current.snooze_left is not None else None) == left
        if current.status == "snoozed" and current.snooze_until == until and same_left and _spike_of(current) == spike:
            return current, False
        if not _has_room(current):
            raise _full(group_id)
        raise Conflicting(
            f"Incident group {group_id} changed while it was being snoozed; try again.",
            code="incident_group_busy",
            details={"group_id": group_id},
        )
    return group, True


def _spike_of(g: IncidentGroup) -> tuple[int, int] | None:
    return (int(g.spike_n), int(g.spike_s or 0)) if g.spike_n is not None else None


def _has_room(g: IncidentGroup) -> bool:
    return int(g.timeline_n or 0) < TIMELINE_MAX


def assign(group_id: str, assignee: str | None, actor: dict[str, Any]) -> tuple[IncidentGroup, bool]:
    """Assign a group to an admin (None: unassign): (group, changed)."""
    G = IncidentGroup
    group = IncidentGroup(group_id=group_id)
    if assignee is None:
        actions: list[Action] = [G.assignee.remove(), G.timeline_n.add(1)]
        differs = G.assignee.exists()
    else:
        actions = [G.assignee.set(assignee), G.timeline_n.add(1)]
        differs = G.assignee.does_not_exist() | (G.assignee != assignee)
    if not transition(group, actions, G.group_id.exists() & differs & _room()):
        current = get_group(group_id)
        if current.assignee == assignee:
            return current, False
        raise _full(group_id)
    return group, True


def note_digest(actor: dict[str, Any], text: str) -> str:
    return hashlib.sha256(f"{actor.get('id')}\n{text}".encode()).hexdigest()[:32]


def claim_note(group_id: str, digest: str) -> bool:
    """Count a note on the group (False: it repeats the last note, so it is not a new entry)."""
    G = IncidentGroup
    group = IncidentGroup(group_id=group_id)
    cond = G.group_id.exists() & (G.last_note.does_not_exist() | (G.last_note != digest)) & _room()
    if transition(group, [G.last_note.set(digest), G.timeline_n.add(1)], cond):
        return True
    current = get_group(group_id)
    if current.last_note == digest:
        return False
    raise _full(group_id)


def list_timeline(group_id: str, limit: int, next_token: str | None) -> tuple[list[TimelineEntry], str | None]:
    """A group's timeline, oldest first."""
    return query_page(TimelineEntry.query, group_id, limit=limit, next_token=next_token, newest_first=False)


def entry_dict(e: TimelineEntry) -> dict[str, Any]:
    return {"id": e.entry_id, "event": e.event, "at": iso(e.at), "actor": e.actor, "details": e.details}


# --- reads ---------------------------------------------------------------------------------------


def title_key(title: str | None) -> str:
    """A title's search key: case-folded, whitespace collapsed, at most 200 characters."""
    return " ".join((title or "").casefold().split())[:200]


def list_groups(
    limit: int,
    next_token: str | None,
    status: str | None = None,
    area: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    title: str | None = None,
) -> tuple[list[IncidentGroup], str | None]:
    """Groups newest ``last_seen`` first (by title prefix: in title order). The most selective filter picks the index."""
    G = IncidentGroup
    cond = G.last_seen >= since if since else None
    if title:
        filt = cond
        for c in (
            G.area == area if area else None,
            G.status == status if status else None,
            G.source == source if source else None,
        ):
            if c is not None:
                filt = c if filt is None else filt & c
        return query_page(
            G.by_title.query,
            GROUP_KIND,
            limit=limit,
            next_token=next_token,
            range_key_condition=G.title_key.startswith(title_key(title)),
            filter_condition=filt,
        )
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
    return query_page(
        index.query, key, limit=limit, next_token=next_token, range_key_condition=cond, filter_condition=filt, newest_first=True
    )


def list_incidents(group_id: str, limit: int, next_token: str | None) -> tuple[list[Incident], str | None]:
    """A group's stored incidents, newest first (ids are ULIDs)."""
    return query_page(Incident.by_group.query, group_id, limit=limit, next_token=next_token, newest_first=True)


def group_dict(g: IncidentGroup) -> dict[str, Any]:
    return {
        "group_id": g.group_id,
        "area": g.area,
        "source": g.source,
        "sources": [g.source] if g.source else [],
        "http_status": int(g.http_status) if g.http_status is not None else None,
        "title": g.title,
        "count": int(g.count or 0),
        "stored": int(g.count or 0) - int(g.suppressed or 0),
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
        "snooze_until": iso(g.snooze_until),
        "snooze_left": int(g.snooze_left) if g.snooze_left is not None else None,
        "snoozed_by": g.snoozed_by,
        "snooze_spike": _spike_dict(g),
        "assignee": g.assignee,
    }


def _spike_dict(g: IncidentGroup) -> dict[str, Any] | None:
    spike = _spike_of(g)
    started = int(g.spike_w) if g.spike_w is not None else None
    return (
        {
            "incidents": spike[0],
            "minutes": spike[1] // 60,
            "window_started_at": iso(datetime.fromtimestamp(started, UTC)) if started is not None else None,
            "counted": int(g.spike_c or 0) if started is not None else 0,
        }
        if spike
        else None
    )


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
        "job_id": i.job_id,
    }
