"""Monitors: the ``monitor-runs`` table and its writes (no HTTP here).

One partition per monitor (``monitor``: the scheduled function's name), sort key ``sk``:
- ``run#<scheduled time>#<invocation id>``: one run (start, end, outcome, duration, counts). The key is
  fixed by the invocation (Lambda's request id) and the event's scheduled time, so a retried invocation
  is the same row (``attempts`` grows), while a second EventBridge delivery of one event (a new request
  id) is a second row, marked ``duplicate``.
- ``occ#<event id>``: which invocation claimed one EventBridge event (conditional put): later deliveries
  of the same event are duplicates and are not counted.
- ``state``: the monitor's latest run, the watchdog's ``watching_since`` and the counters.
- ``alert#missed#<occurrence>`` / ``alert#failed#<run key>``: the watchdog's claim that it filed the
  incident for that occurrence (conditional put: at most one incident per occurrence).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, condition_failed, meta, query_page, transition
from chalicelib.monitors import domain

STATE = "state"
RUN_PREFIX = "run#"


class MonitorRun(Model):
    Meta = meta("monitor-runs")
    monitor = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    # run rows
    invocation_id = UnicodeAttribute(null=True)
    event_id = UnicodeAttribute(null=True)
    scheduled_at = UTCDateTime(null=True)
    started_at = UTCDateTime(null=True)
    ended_at = UTCDateTime(null=True)
    outcome = UnicodeAttribute(null=True)
    duration_ms = NumberAttribute(null=True)
    counts = UnicodeAttribute(null=True)  # JSON {name: int}
    error = UnicodeAttribute(null=True)
    duplicate = BooleanAttribute(null=True)
    attempts = NumberAttribute(null=True)
    # the state row
    last_key = UnicodeAttribute(null=True)
    last_scheduled_at = UTCDateTime(null=True)
    last_started_at = UTCDateTime(null=True)
    last_ended_at = UTCDateTime(null=True)
    last_outcome = UnicodeAttribute(null=True)
    last_duration_ms = NumberAttribute(null=True)
    watching_since = UTCDateTime(null=True)
    runs = NumberAttribute(null=True)
    ok = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    duplicates = NumberAttribute(null=True)
    # alert claims
    filed_at = UTCDateTime(null=True)


# --- the scheduled functions' writes -----------------------------------------------------------


def claim_event(name: str, event_id: str, invocation_id: str) -> bool:
    """True when this invocation is the first (or the same, retried) to run EventBridge event ``event_id``."""
    row = MonitorRun(monitor=name, sk=f"occ#{event_id}", invocation_id=invocation_id)
    try:
        row.save(condition=MonitorRun.sk.does_not_exist() | (MonitorRun.invocation_id == invocation_id))
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def start_run(
    name: str, key: str, *, invocation_id: str, event_id: str, scheduled_at: datetime, now: datetime, duplicate: bool
) -> int:
    """Record the start of run ``key`` (an upsert: a retried invocation restarts its row); returns its attempts."""
    run = MonitorRun(monitor=name, sk=key)
    run.update(
        actions=[
            MonitorRun.invocation_id.set(invocation_id),
            MonitorRun.event_id.set(event_id),
            MonitorRun.scheduled_at.set(scheduled_at),
            MonitorRun.started_at.set(now),
            MonitorRun.duplicate.set(duplicate),
            MonitorRun.attempts.add(1),
            MonitorRun.outcome.remove(),
            MonitorRun.ended_at.remove(),
        ]
    )
    state = MonitorRun(monitor=name, sk=STATE)
    state.update(
        actions=[
            MonitorRun.last_key.set(key),
            MonitorRun.last_scheduled_at.set(scheduled_at),
            MonitorRun.last_started_at.set(now),
            MonitorRun.last_outcome.remove(),
        ]
    )
    return int(run.attempts or 1)


def finish_run(
    name: str,
    key: str,
    *,
    outcome: str,
    ended_at: datetime,
    duration_ms: int,
    counts: dict[str, int],
    error: str | None,
    counted: bool,
    duplicate: bool,
) -> None:
    """Record how run ``key`` ended; the state row takes it unless a newer run started meanwhile.
    ``counted``: the first attempt of the event's first invocation (a duplicate or a retry adds nothing)."""
    actions: list[Any] = [
        MonitorRun.outcome.set(outcome),
        MonitorRun.ended_at.set(ended_at),
        MonitorRun.duration_ms.set(duration_ms),
        MonitorRun.counts.set(json.dumps(counts, sort_keys=True)),
    ]
    actions.append(MonitorRun.error.set(error[:500]) if error else MonitorRun.error.remove())
    MonitorRun(monitor=name, sk=key).update(actions=actions)
    tally: list[Any] = []
    if duplicate:
        tally.append(MonitorRun.duplicates.add(1))
    elif counted:
        tally += [MonitorRun.runs.add(1), (MonitorRun.ok if outcome == domain.OK else MonitorRun.failed).add(1)]
    last = [
        MonitorRun.last_outcome.set(outcome),
        MonitorRun.last_ended_at.set(ended_at),
        MonitorRun.last_duration_ms.set(duration_ms),
    ]
    state = MonitorRun(monitor=name, sk=STATE)
    if not transition(state, last + tally, condition=MonitorRun.last_key == key) and tally:
        state.update(actions=tally)  # a newer run is the latest: count this one all the same


# --- reads and the watchdog's writes -------------------------------------------------------------


def states(names: list[str]) -> dict[str, MonitorRun]:
    """Each monitor's state row (one batch read; a monitor that never ran nor was watched has none)."""
    return {row.monitor: row for row in MonitorRun.batch_get([(n, STATE) for n in names], consistent_read=True)}


def watch(name: str, now: datetime) -> datetime:
    """The moment the watchdog first watched ``name`` (set once): the anchor before any run."""
    state = MonitorRun(monitor=name, sk=STATE)
    state.update(actions=[MonitorRun.watching_since.set(MonitorRun.watching_since | now)])
    return state.watching_since or now


def claim_alert(name: str, key: str, now: datetime) -> bool:
    """True once per ``key``: the caller files the incident for that occurrence."""
    try:
        MonitorRun(monitor=name, sk=f"alert#{key}", filed_at=now).save(condition=MonitorRun.sk.does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def release_alert(name: str, key: str) -> None:
    """Give a claim back (filing its incident failed): the next watchdog run tries again."""
    MonitorRun(monitor=name, sk=f"alert#{key}").delete()


def runs_page(name: str, limit: int, next_token: str | None) -> tuple[list[MonitorRun], str | None]:
    """A page of ``name``'s runs, newest scheduled first."""
    return query_page(
        MonitorRun.query,
        name,
        limit=limit,
        next_token=next_token,
        range_key_condition=MonitorRun.sk.startswith(RUN_PREFIX),
        newest_first=True,
    )


def last_run(state: MonitorRun | None) -> domain.LastRun | None:
    if state is None or not state.last_key or state.last_scheduled_at is None or state.last_started_at is None:
        return None
    return domain.LastRun(state.last_key, state.last_scheduled_at, state.last_started_at, state.last_outcome)


def run_dict(r: MonitorRun) -> dict[str, Any]:
    from chalicelib.core.db import iso

    return {
        "id": r.sk.removeprefix(RUN_PREFIX),
        "invocation_id": r.invocation_id,
        "event_id": r.event_id,
        "scheduled_at": iso(r.scheduled_at),
        "started_at": iso(r.started_at),
        "ended_at": iso(r.ended_at),
        "outcome": r.outcome or domain.RUNNING,
        "duration_ms": int(r.duration_ms) if r.duration_ms is not None else None,
        "counts": json.loads(r.counts) if r.counts else {},
        "error": r.error,
        "duplicate": bool(r.duplicate),
        "attempts": int(r.attempts or 1),
    }
