"""What producers tell the alert engine: one :class:`Signal` per occurrence of something alertable.

Producers (the incident intake, the monitor watchdog, the job-health evaluator) call :func:`emit`; the
alert engine (``chalicelib.alerts.service.fire``) matches the signal against the rules and queues the
deliveries. ``emit`` never raises into the producer: an alerting failure becomes a log line and an
incident of its own, never a lost intake or a failed watchdog run.

``occurrence`` makes delivery idempotent: the same (kind, subject, occurrence) emitted twice (a duplicate
SQS or EventBridge delivery, a retried intake) is one occurrence and at most one notification per rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

Kind = Literal[
    "incident.new",  # a new incident group (subject: group id)
    "incident.regression",  # a resolved group reopened (subject: group id)
    "incident.spike",  # a group got N incidents within M minutes (subject: group id)
    "job.first_failure",  # a job type's first failure after a success (subject: job type)
    "job.failure_rate",  # a job type's failure rate over a window crossed a threshold (subject: job type)
    "job.stuck",  # a job stuck longer than a threshold (subject: job type; detail names the job)
    "job.waiting",  # a job queued longer than a threshold (subject: job type)
    "dlq.not_empty",  # a dead-letter queue holds messages (subject: queue name)
    "monitor.missed_run",  # a scheduled function missed its run (subject: monitor name)
    "monitor.failed_run",  # a scheduled function's run failed (subject: monitor name)
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Scope:
    """What a rule's scope is matched against (a rule's empty field matches anything)."""

    area: str | None = None  # the incident area (a rule scopes by prefix)
    job_type: str | None = None
    source: str | None = None  # "frontend", "backend", "monitor", "jobs", "queues"


@dataclass(frozen=True)
class Signal:
    kind: Kind
    subject: str  # what the alert is about (group id, job type, queue, monitor name)
    occurrence: str  # stable per occurrence: an incident id, a window start, a run's scheduled time
    title: str  # one line for a human
    scope: Scope = field(default_factory=Scope)
    link: str | None = None  # a console path, e.g. "/console/incidents/<group id>"
    count: int | None = None  # the subject's occurrence number when known (throttling uses it)
    detail: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)


Sink = Callable[[Signal], None]


def _engine(signal: Signal) -> None:
    import importlib  # the engine (chalicelib.alerts.service): imported on first use, off the cold start

    importlib.import_module("chalicelib.alerts.service").fire(signal)


_sink: list[Sink] = [_engine]


def emit(signal: Signal) -> None:
    """Hand ``signal`` to the alert engine; log, never raise, if it fails."""
    try:
        _sink[0](signal)
    except Exception:  # alerting must not break what it watches
        logger.exception("alert signal not delivered", extra={"kind": signal.kind, "subject": signal.subject})


@contextmanager
def use_sink(sink: Sink) -> Iterator[None]:
    """A seam: send signals to ``sink`` instead of the engine, for the block."""
    old = _sink[0]
    _sink[0] = sink
    try:
        yield
    finally:
        _sink[0] = old


@contextmanager
def recording() -> Iterator[list[Signal]]:
    """Record the emitted signals in a list (and don't fire them) for the block."""
    seen: list[Signal] = []
    with use_sink(seen.append):
        yield seen


__all__ = ["KINDS", "Kind", "Scope", "Signal", "emit", "recording", "use_sink"]
