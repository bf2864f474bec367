"""Monitors: the heartbeat every scheduled function records, the watchdog, and the reads behind the API.

:func:`monitored` wraps a scheduled function: each invocation records its run (start, end, outcome,
duration, the numbers it returned). Recording never breaks the run: a failing write is logged and the
function still runs (and its own error still propagates, so EventBridge retries and the backend capture
files it).

:func:`watchdog` is its own scheduled function (its own Lambda, its own EventBridge rule and role): it
reads only the runs the monitored functions wrote, so a stopped scheduler, a disabled rule, a function
that fails to start or is never invoked is still seen, because the absence of a run is what it checks.
:func:`missed_run` and :func:`failed_run` are where an incident is opened, once per occurrence (a claim row
decides), and where the ``monitor.missed_run`` / ``monitor.failed_run`` alert signal is emitted, after the claim.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from chalicelib.alerts import signals
from chalicelib.core.db import iso
from chalicelib.core.observability import logger
from chalicelib.monitors import domain, store

F = TypeVar("F", bound=Callable[..., Any])


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def _system_now() -> datetime:
    return datetime.now(UTC)


class _Clock:
    now: Clock = _system_now


def use_clock(clock: Clock | None) -> None:
    """Tests: install a fake clock (None: the system's)."""
    _Clock.now = clock or _system_now


def now() -> datetime:
    return _Clock.now()


# --- the heartbeat --------------------------------------------------------------------------------


def _event_fields(event: Any) -> tuple[str, str, datetime | None]:
    """(invocation id, event id, scheduled time) of a Chalice ``CloudWatchEvent`` (or a raw dict)."""
    raw = event.to_dict() if hasattr(event, "to_dict") else event if isinstance(event, dict) else {}
    context = getattr(event, "context", None)
    invocation = str(getattr(context, "aws_request_id", "") or "")
    event_id = str(raw.get("id") or "")
    return invocation, event_id, domain.parse_time(raw.get("time"))


def monitored(name: str) -> Callable[[F], F]:
    """Record every run of the scheduled function ``name`` (one of :data:`domain.MONITORS`)."""
    if name not in domain.MONITORS:
        raise ValueError(f"{name} is not in chalicelib.monitors.domain.MONITORS")

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(event: Any, *args: Any, **kwargs: Any) -> Any:
            started, t0 = now(), time.monotonic()
            invocation, event_id, scheduled = _event_fields(event)
            invocation = invocation or f"local-{t0}"
            event_id = event_id or invocation
            scheduled = scheduled or started
            key = domain.run_key(scheduled, invocation)
            begun = _begin(name, key, invocation, event_id, scheduled, started)
            try:
                result = fn(event, *args, **kwargs)
            except BaseException as exc:
                _end(name, key, begun, domain.FAILED, t0, {}, f"{type(exc).__name__}: {exc}")
                raise
            _end(name, key, begun, domain.OK, t0, domain.counts_of(result), None)
            return result

        return run  # type: ignore[return-value]  # same signature as fn

    return decorate


def _begin(
    name: str, key: str, invocation: str, event_id: str, scheduled: datetime, started: datetime
) -> tuple[bool, bool] | None:
    """(counted, duplicate), or None when the start could not be recorded."""
    try:
        duplicate = not store.claim_event(name, event_id, invocation)
        attempts = store.start_run(
            name, key, invocation_id=invocation, event_id=event_id, scheduled_at=scheduled, now=started, duplicate=duplicate
        )
    except Exception:  # noqa: BLE001 - a heartbeat must never stop the run it records
        logger.exception("monitor: could not record the start of a run", extra={"monitor": name, "run": key})
        return None
    if duplicate:
        logger.info("monitor: a second delivery of one scheduled event", extra={"monitor": name, "event_id": event_id})
    return attempts == 1 and not duplicate, duplicate


def _end(
    name: str, key: str, begun: tuple[bool, bool] | None, outcome: str, t0: float, counts: dict[str, int], error: str | None
) -> None:
    if begun is None:
        return
    counted, duplicate = begun
    try:
        store.finish_run(
            name,
            key,
            outcome=outcome,
            ended_at=now(),
            duration_ms=int((time.monotonic() - t0) * 1000),
            counts=counts,
            error=error,
            counted=counted,
            duplicate=duplicate,
        )
    except Exception:  # noqa: BLE001 - see _begin
        logger.exception("monitor: could not record the end of a run", extra={"monitor": name, "run": key})


# --- the watchdog ---------------------------------------------------------------------------------


def _file(monitor: domain.Monitor, alert: str, at: datetime, code: str, message: str, context: dict[str, Any]) -> bool:
    """Open one incident for ``alert`` (once: a claim row decides); True when this call opened it."""
    from chalicelib.incidents import domain as incidents
    from chalicelib.incidents import service as incident_service

    if not store.claim_alert(monitor.name, alert, at):
        return False
    draft = incidents.build_draft(
        source="backend",
        area=f"{domain.INCIDENT_AREA}{monitor.name}",
        message=message,
        actor=domain.ACTOR,
        backend_error={"code": code, "message": message.split(":")[0]},
        entities=[{"type": "monitor", "id": monitor.name}],
        location=f"monitor:{monitor.name}",
        context={
            "monitor": monitor.name,
            "expression": monitor.expression,
            "grace_s": int(monitor.grace.total_seconds()),
            **context,
        },
        origin={"kind": "monitor", "monitor": monitor.name},
    )
    try:
        incident_service.record(draft)
    except Exception:
        store.release_alert(monitor.name, alert)  # the next watchdog run files it
        raise
    logger.warning(message, extra={"monitor": monitor.name, "alert": alert})
    return True


def _signal(kind: signals.Kind, monitor: domain.Monitor, occurrence: datetime, title: str, **detail: str | None) -> None:
    """Tell the alert engine (after the claim: once per occurrence; ``emit`` never raises)."""
    signals.emit(
        signals.Signal(
            kind=kind,
            subject=monitor.name,
            occurrence=iso(occurrence) or "",
            title=title,
            scope=signals.Scope(area=f"{domain.INCIDENT_AREA}{monitor.name}", source="monitor"),
            link="/console/admin/monitors",
            detail={
                "monitor": monitor.name,
                "expression": monitor.expression,
                "grace_s": int(monitor.grace.total_seconds()),
                **detail,
            },
        )
    )


def missed_run(monitor: domain.Monitor, occurrence: datetime, at: datetime) -> bool:
    """The run expected at ``occurrence`` did not start within the grace period: one incident per occurrence,
    and one ``monitor.missed_run`` signal (occurrence: the scheduled time)."""
    filed = _file(
        monitor,
        f"missed#{domain.stamp(occurrence)}",
        at,
        "monitor_missed_run",
        f"Scheduled function {monitor.name} missed its run: expected at {iso(occurrence)} ({monitor.expression}), "
        f"nothing recorded within {int(monitor.grace.total_seconds() // 60)} minutes",
        {"expected_at": iso(occurrence)},
    )
    if filed:
        title = f"Scheduled function {monitor.name} missed its run at {iso(occurrence)}"
        _signal("monitor.missed_run", monitor, occurrence, title)
    return filed


def failed_run(monitor: domain.Monitor, run: domain.LastRun, at: datetime) -> bool:
    """The last run failed (or died without ending): one incident per run, and one ``monitor.failed_run``
    signal (occurrence: the run's scheduled time)."""
    filed = _file(
        monitor,
        f"failed#{run.key}",
        at,
        "monitor_failed_run",
        f"Scheduled function {monitor.name} failed: its run scheduled at {iso(run.scheduled_at)} did not succeed",
        {"run": run.key.removeprefix(store.RUN_PREFIX), "scheduled_at": iso(run.scheduled_at)},
    )
    if filed:
        title = f"Scheduled function {monitor.name} failed its run scheduled at {iso(run.scheduled_at)}"
        _signal("monitor.failed_run", monitor, run.scheduled_at, title, run=run.key.removeprefix(store.RUN_PREFIX))
    return filed


def watchdog() -> dict[str, Any]:
    """Check every monitor once: open an incident per missed occurrence and per failed last run; then the job
    runtime's health (:func:`chalicelib.jobs.health.evaluate`)."""
    at = now()
    monitors = list(domain.MONITORS.values())
    rows = store.states([m.name for m in monitors])
    out: dict[str, Any] = {"checked": len(monitors), "missed": 0, "failed": 0}
    for m in monitors:
        row = rows.get(m.name)
        since = row.watching_since if row is not None else None
        if since is None:
            since = store.watch(m.name, at)
        last = store.last_run(row)
        verdict = domain.assess(m, last, since, at)
        if verdict.missed is not None and missed_run(m, verdict.missed, at):
            out["missed"] += 1
        if verdict.failed_run is not None and last is not None and failed_run(m, last, at):
            out["failed"] += 1
        out[m.name] = verdict.state
    from chalicelib.jobs import health

    out["jobs"] = health.evaluate(at)  # the job runtime's health signals (failure rate, stuck, waiting, DLQs)
    out["alert_digests"] = _alert_digests(at)
    logger.info("monitor watchdog", extra={"watchdog": out})
    return out


def _alert_digests(at: datetime) -> bool:
    """Queue the alerts' digest sweep when something waits for it (a digest due though no new occurrence came
    to send it). Never raises: the watchdog's own checks are done and recorded."""
    try:
        from chalicelib.alerts import service as alerts

        return alerts.sweep_if_waiting(at)
    except Exception:  # noqa: BLE001 - alerting must not fail the watchdog
        logger.exception("monitor watchdog: the alert digest sweep was not queued")
        return False


# --- reads ----------------------------------------------------------------------------------------


def get_monitor(name: str) -> domain.Monitor:
    from chalicelib.core.errors import Missing

    found = domain.MONITORS.get(name)
    if found is None:
        raise Missing(f"Monitor {name} does not exist.", code="monitor_not_found", details={"monitor": name})
    return found


def overview() -> list[dict[str, Any]]:
    """Every monitor: its latest runs, last outcome and duration, next expected run and state."""
    at = now()
    rows = store.states(list(domain.MONITORS))
    items = []
    for m in domain.MONITORS.values():
        row = rows.get(m.name)
        last = store.last_run(row)
        verdict = domain.assess(m, last, row.watching_since if row is not None else None, at)
        recent, _ = store.runs_page(m.name, domain.RECENT_RUNS, None)
        items.append(
            {
                "name": m.name,
                "expression": m.expression,
                "grace_s": int(m.grace.total_seconds()),
                "state": verdict.state,
                "next_expected_at": iso(verdict.next_expected),
                "missed_at": iso(verdict.missed),
                "last_outcome": (domain.outcome_of(last, at) or domain.RUNNING) if last is not None else None,
                "last_started_at": iso(row.last_started_at) if row is not None else None,
                "last_ended_at": iso(row.last_ended_at) if row is not None else None,
                "last_duration_ms": int(row.last_duration_ms) if row is not None and row.last_duration_ms is not None else None,
                "watching_since": iso(row.watching_since) if row is not None else None,
                "runs": int(row.runs or 0) if row is not None else 0,
                "ok": int(row.ok or 0) if row is not None else 0,
                "failed": int(row.failed or 0) if row is not None else 0,
                "duplicates": int(row.duplicates or 0) if row is not None else 0,
                "recent_runs": [store.run_dict(r) for r in recent],
            }
        )
    return items


def runs(name: str, limit: int, next_token: str | None) -> dict[str, Any]:
    get_monitor(name)
    items, token = store.runs_page(name, limit, next_token)
    return {"items": [store.run_dict(r) for r in items], "next_token": token}
