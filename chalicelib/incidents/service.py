"""Incident Hub use cases: intake (rate checks, the flood guess, grouping), triage (resolve, reopen with a
note) and the reads behind the admin lists.

The intake's tunables and ports live in one :class:`Intake` (limits, clock, flood guesses, the store's
write); the process has one (:func:`intake`), and a test installs its own with :func:`use_intake`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from chalicelib.alerts import signals
from chalicelib.core.db import iso, new_id
from chalicelib.core.errors import Invalid
from chalicelib.core.observability import logger
from chalicelib.incidents import domain, store
from chalicelib.incidents.domain import LIMITS, Draft, FloodGuesses, Limits, RateLeases, SeenLinks
from chalicelib.metrics import service as metrics_service

if TYPE_CHECKING:
    from chalicelib.incidents.schemas import IncidentIn


class Clock(Protocol):
    """The intake's clock: epoch seconds (rate and flood windows, and the times it stamps)."""

    def __call__(self) -> float: ...


class Recorded(NamedTuple):
    """One intake's outcome: the incident's id, its group, and whether its row was stored (not flooding)."""

    id: str
    group_id: str
    stored: bool


class Reported(NamedTuple):
    """A frontend report's outcome; ``dropped`` says why its payload was not kept (an oversize body)."""

    id: str
    group_id: str
    stored: bool
    dropped: dict[str, Any] | None


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass
class Intake:
    """How incidents come in: budgets, clock, this container's flood guesses and the store's write."""

    limits: Limits = LIMITS
    clock: Clock = time.time
    flooding: FloodGuesses = field(default_factory=FloodGuesses)
    leases: RateLeases = field(default_factory=RateLeases)
    update: store.UpdateItem = store.update_item
    links: SeenLinks = field(default_factory=SeenLinks)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def check_rate(self, actor: dict[str, Any], source_ip: str) -> int | None:
        """None when the caller may report, else the seconds to wait (the ``Retry-After``).

        Usually no store write: a hit is taken from this container's share of the window's budget;
        only when the share is used up does it claim more (one conditional write, see
        :func:`store.claim`), so every container together admits at most the budget.
        """
        scope, allowed = domain.rate_scope(actor, source_ip, self.limits)
        now = self.clock()
        window_s = self.limits.rate_window_s
        window = domain.window_start(now, window_s)
        took = self.leases.take(scope, window, allowed)
        if took is None:
            want = domain.claim_size(allowed, self.leases.seen(scope, window))
            hits, count = store.claim(scope, window, window_s, want, allowed, self.update)
            self.leases.granted(scope, window, hits, count)
            took = hits > 0
        return None if took else max(1, math.ceil(window + window_s - now))

    def record(self, draft: Draft) -> Recorded:
        """Count ``draft`` in its group and store its row (unless the group is flooding).

        At most ``limits.group_rows_per_window`` rows per group per window are stored; beyond that the
        incident is only counted (``suppressed``). A new incident in a resolved group reopens it (a
        regression, counted in ``regressions``).
        """
        now = self.clock()
        received = datetime.fromtimestamp(now, UTC)
        incident_id = new_id()
        window = domain.window_start(now, self.limits.group_window_s)
        events: list[str] = []
        stored, window = store.count_in_group(
            draft,
            incident_id,
            received,
            window=window,
            limits=self.limits,
            assume_flooding=self.flooding.flooding(draft.group_id, window),
            update=self.update,
            events=events,
        )
        self.flooding.saw(draft.group_id, window, stored)
        metrics_service.count_incident(draft.group_id, draft.area, stored, received)  # buffered: no call here
        self.link(draft, incident_id, received)
        for event in events:  # created, reopened (a regression), woke (a snooze ended, or a spike): one intake each
            if event == "spiked":  # the window's Nth incident: an alert signal, not a timeline entry
                continue
            details = {"incident_id": incident_id, **store.wake_details(event)}
            name = "reopened" if event.startswith("woke") else event
            store.add_entry(draft.group_id, name, received, None if event == "created" else store.system_actor(event), details)
        if stored:
            store.put_incident(incident_id, draft, received)
        for event in events:  # only on an event: the common path emits nothing
            _signal(event, draft, incident_id, window, self.limits)
        return Recorded(incident_id, draft.group_id, stored)

    def link(self, draft: Draft, incident_id: str, received: datetime) -> None:
        """Record the jobs and entities ``draft`` names that its group had not named yet: one conditional put
        per link this container has not seen (none on the common path: a group that keeps failing for the
        same entity or job costs nothing more). A failure here is logged, never raised: the incident is
        already counted, and a lost link only hides it from the search by entity and the group's links."""
        for ref in self.links.unseen(draft.group_id, domain.links_of(draft)):
            try:
                store.put_link(draft.group_id, ref, incident_id, received)
            except Exception:  # noqa: BLE001 - the incident is recorded; the link is best effort
                logger.warning("incident link not recorded", extra={"group_id": draft.group_id, "link": ref.key}, exc_info=True)
                continue
            self.links.saw(draft.group_id, ref.key)

    def report(self, body: IncidentIn, *, actor: dict[str, Any], source_ip: str, user_agent: str | None, size: int) -> Reported:
        """A frontend report (``POST /incidents``) of ``size`` bytes, scrubbed, grouped and recorded. An
        oversize one is recorded as a stub (its group, not its payload): ``dropped`` says so."""
        dropped = domain.oversize(size, self.limits)
        draft = domain.build_draft(
            source="frontend",
            area=body.area,
            message=body.message,
            actor=actor,
            http_status=body.http_status,
            backend_error=body.backend_error,
            entities=[e.model_dump() for e in body.entities],
            location=body.location,
            occurred_at=iso(_utc(body.occurred_at)),
            request_id=body.request_id,
            context=body.context,
            claimed_actor=body.actor,
            user_agent=user_agent,
            source_ip=source_ip,
            dropped=dropped,
            limits=self.limits,
        )
        out = self.record(draft)
        logger.info(
            "incident recorded",
            extra={
                "incident_id": out.id,
                "group_id": out.group_id,
                "area": draft.area,
                "stored": out.stored,
                "dropped": bool(dropped),
            },
        )
        return Reported(out.id, out.group_id, out.stored, dropped)

    def capture(self, exc: BaseException, context: dict[str, Any]) -> Recorded:
        """A ``source: "backend"`` incident for an unhandled error in a route or a job."""
        out = self.record(domain.backend_draft(exc, context, self.limits))
        logger.info("backend incident recorded", extra={"incident_id": out.id, "group_id": out.group_id, "stored": out.stored})
        return out

    # --- triage ----------------------------------------------------------------------------------

    def set_status(
        self, group_id: str, status: str, actor: dict[str, Any], note: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Resolve (with an optional note) or reopen a group: (the group, changed). Twice is not an error."""
        now = self.now()
        group, changed = store.set_status(group_id, status, actor, now, note)
        if changed:
            event = "resolved" if status == "resolved" else "reopened"
            store.add_entry(group_id, event, now, actor, {"note": note} if note else None)
        return store.group_dict(group), changed

    def snooze(
        self,
        group_id: str,
        actor: dict[str, Any],
        *,
        until: datetime | None = None,
        incidents: int | None = None,
        spike: tuple[int, int] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Snooze a group until a time (in the future), until ``incidents`` more come in, or until it
        escalates (``spike``: N incidents within M minutes): (the group, changed)."""
        now = self.now()
        until = _utc(until)
        if until is not None and until <= now:
            raise Invalid("until must be in the future.", code="snooze_until_past", details={"until": iso(until)})
        window = (spike[0], spike[1] * 60) if spike else None
        group, changed = store.snooze(group_id, until, incidents, actor, now, window)
        if changed:
            details: dict[str, Any] = {"until": iso(until), "incidents": incidents}
            if spike:
                details["spike"] = {"incidents": spike[0], "minutes": spike[1]}
            store.add_entry(group_id, "snoozed", now, actor, details)
        return store.group_dict(group), changed

    def assign(self, group_id: str, assignee: str | None, actor: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Assign a group to an admin (None unassigns): (the group, changed)."""
        group, changed = store.assign(group_id, assignee, actor)
        if changed:
            store.add_entry(group_id, "assigned", self.now(), actor, {"assignee": assignee})
        return store.group_dict(group), changed

    def note(self, group_id: str, text: str, actor: dict[str, Any]) -> bool:
        """Add a note to a group's timeline (False: the same admin sent the same note again; one entry)."""
        if not store.claim_note(group_id, store.note_digest(actor, text)):
            return False
        store.add_entry(group_id, "noted", self.now(), actor, {"note": text})
        return True


_SIGNALS: dict[str, signals.Kind] = {"created": "incident.new", "reopened": "incident.regression", "spiked": "incident.spike"}


def _signal(event: str, draft: Draft, incident_id: str, window: int, limits: Limits) -> None:
    """Tell the alert engine about an intake event (``emit`` never raises). Occurrence: the incident id for
    a new group or a regression (one intake does each), the window's start for a spike (once per window)."""
    kind = _SIGNALS.get(event)
    if kind is None:  # woke: a snooze ending is the admin's own choice, not an alert
        return
    spike = kind == "incident.spike"
    window_at = iso(datetime.fromtimestamp(window, UTC)) or ""
    what = {"incident.new": "New incident", "incident.regression": "Regression", "incident.spike": "Spike"}[kind]
    title = f"{what}: {draft.title} ({draft.area})"
    if spike:
        title += f": {limits.spike_incidents} incidents within {limits.group_window_s // 60} minutes"
    detail: dict[str, str | int | float | bool | None] = {
        "incident_id": incident_id,
        "area": draft.area,
        "http_status": draft.http_status,
    }
    if spike:
        detail |= {"count": limits.spike_incidents, "window_start": window_at, "window_minutes": limits.group_window_s // 60}
    signals.emit(
        signals.Signal(
            kind=kind,
            subject=draft.group_id,
            occurrence=window_at if spike else incident_id,
            title=title,
            scope=signals.Scope(area=draft.area, source=draft.source),
            link=f"/console/admin/incidents?group={draft.group_id}&status=all",  # the Incident Hub opens the group
            count=limits.spike_incidents if spike else None,
            detail=detail,
        )
    )


class _Active:
    """The process's intake, built on first use (nothing is read at import)."""

    intake: Intake | None = None


def intake() -> Intake:
    """The intake every route and the backend capture use."""
    if _Active.intake is None:
        _Active.intake = Intake()
    return _Active.intake


def use_intake(new: Intake | None) -> Intake:
    """Install ``new`` as the process's intake (None: a fresh default one); returns it."""
    _Active.intake = new or Intake()
    return _Active.intake


def record(draft: Draft) -> Recorded:
    """Record a draft another capability built (an integrity finding, a quota refusal) through the process's intake."""
    return intake().record(draft)


# --- reads ---------------------------------------------------------------------------------------


def list_groups(
    limit: int,
    next_token: str | None,
    *,
    status: str | None = None,
    area: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """A page of groups, newest ``last_seen`` first (``area`` as the admin typed it; ``title``: a case-insensitive prefix)."""
    items, token = store.list_groups(
        limit, next_token, status=status, area=domain.list_area(area), source=source, since=_utc(since), title=title
    )
    return {"items": [store.group_dict(g) for g in items], "next_token": token}


def group_filter(
    *,
    status: str | None = None,
    area: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    title: str | None = None,
) -> Callable[[store.IncidentGroup], bool] | None:
    """The list filters as a test on a group already read (search by entity narrows its page with it)."""
    wanted_area, after, prefix = domain.list_area(area), _utc(since), store.title_key(title) if title else None
    if not (status or wanted_area or source or after or prefix):
        return None

    def keep(g: store.IncidentGroup) -> bool:
        return (
            (not status or (g.status or "open") == status)
            and (not wanted_area or g.area == wanted_area)
            and (not source or g.source == source)
            and (after is None or (g.last_seen is not None and g.last_seen >= after))
            and (prefix is None or (g.title_key or "").startswith(prefix))
        )

    return keep


def timeline(group_id: str, limit: int, next_token: str | None) -> dict[str, Any]:
    """A page of a group's timeline, oldest first (``Missing`` when there is no such group)."""
    store.get_group(group_id)
    items, token = store.list_timeline(group_id, limit, next_token)
    return {"items": [store.entry_dict(e) for e in items], "next_token": token}


def group_detail(group_id: str, limit: int, next_token: str | None) -> dict[str, Any]:
    """One group with a page of its stored incidents, newest first (``Missing`` when there is no such group)."""
    from chalicelib.incidents import links

    group = store.get_group(group_id)
    items, token = store.list_incidents(group_id, limit, next_token)
    out = store.group_dict(group)
    if not next_token:  # the group page: is it verified fixed? (≤ one Query and one BatchGetItem)
        out.update(links.verify(group_id))
    return {"group": out, "items": [store.incident_dict(i) for i in items], "next_token": token}
