"""Job health: the alert signals about the job runtime, each emitted once per occurrence.

- ``job.first_failure`` (subject: the job type; occurrence: the failing job's id): on the ledger's final
  failure transition (:func:`failed`, called by ``ledger.record_failure`` once the transition held), when
  the type has succeeded since the last failure that was signalled. The outcome totals (``t:`` counters,
  moved in the transition's own transaction) say how many successes there have been; one conditional
  UpdateItem on the type's ``~health~first~<type>`` row (``succeeded_seen < :total``) lets exactly one
  of any number of concurrent failures claim it. Cost: only on a final failure, one BatchGetItem (the 8
  counter rows and that claim row), plus the UpdateItem only when there was a success since; a success
  costs nothing more than its transition.
- ``job.failure_rate`` (subject: type; occurrence: the window's start): the watchdog (:func:`evaluate`,
  every 5 minutes) snapshots the outcome totals once per window (``~health~rate``, attribute
  ``s<window start>``, a conditional write: one watchdog run wins) and the winner compares that
  snapshot with the previous window's: failed / (failed + succeeded) ≥ ``failure_rate`` with at least
  ``min_jobs`` outcomes. A window without a previous snapshot (the first, or after the watchdog was down)
  is not judged.
- ``job.stuck`` / ``job.waiting`` (subject: type; occurrence: the job id): among the ``ledger_window``
  oldest running and queued entries (``by_state`` index, bounded), a running job whose heartbeat is
  older than its type's timeout, a queued job untouched for ``waiting_s``. A claim row per job.
- ``dlq.not_empty`` (subject: the dead-letter queue; occurrence: when the watchdog first saw it non-empty
  since it was last seen empty): ``ApproximateNumberOfMessages`` per dead-letter queue; the episode's
  start is kept on ``~health~dlq~<queue>`` (set conditionally: one watchdog run wins) and cleared when
  the queue is seen empty.

Every read is O(1): one BatchGetItem (counters and health rows), two bounded index queries, one
GetQueueAttributes per dead-letter queue. The rows live in the jobs table under keys that are never
job ids and carry no ``state``/``type``, so no index sees them (like the counter rows). Thresholds are
the producer's floor (:class:`HealthLimits`); alert rules can be stricter, comparing ``detail``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.core.db import iso
from chalicelib.jobs import counts, states

if TYPE_CHECKING:
    from chalicelib.alerts.signals import Kind

logger = logging.getLogger(__name__)

PREFIX = "~health~"
RATE_KEY = f"{PREFIX}rate"
JOBS_LINK = "/console/admin/jobs"


# --- rules (pure) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthLimits:
    """The producer's thresholds (defaults; rules filter further on ``detail``)."""

    window_s: int = 900  # the failure-rate window (UTC-aligned, tumbling)
    failure_rate: float = 0.2
    min_jobs: int = 3  # outcomes in the window before a rate means anything
    waiting_s: int = 1800  # queued (untouched) this long: job.waiting (beyond a retry's longest back-off, 15 min)
    ledger_window: int = 10  # oldest running and oldest queued entries read per watchdog run
    keep_windows: int = 4  # snapshots older than this many windows are removed


LIMITS = HealthLimits()


@dataclass(frozen=True)
class Rate:
    job_type: str
    failed: int
    succeeded: int

    @property
    def jobs(self) -> int:
        return self.failed + self.succeeded

    @property
    def rate(self) -> float:
        return self.failed / self.jobs if self.jobs else 0.0


def window_start(now: datetime, window_s: int) -> int:
    return int(now.timestamp()) // window_s * window_s


def snapshot(totals: counts.Counts) -> dict[str, list[int]]:
    """Per type: [failed, succeeded] entries so far (what a window snapshot keeps)."""
    out: dict[str, list[int]] = {}
    for (state, job_type), n in totals.items():
        if state in counts.OUTCOMES:
            pair = out.setdefault(job_type, [0, 0])
            pair[0 if state == states.FAILED else 1] += n
    return out


def high_rates(before: dict[str, list[int]], after: dict[str, list[int]], limits: HealthLimits) -> list[Rate]:
    """The types whose outcomes between two snapshots failed at ``failure_rate`` or more (≥ ``min_jobs``)."""
    out = []
    for job_type, (failed, succeeded) in sorted(after.items()):
        f0, s0 = before.get(job_type, [0, 0])
        r = Rate(job_type, failed - f0, succeeded - s0)
        if r.failed > 0 and r.jobs >= limits.min_jobs and r.rate >= limits.failure_rate:
            out.append(r)
    return out


def waiting_for(state: str, updated_at: datetime | None, now: datetime, limits: HealthLimits) -> timedelta | None:
    """How long a queued job has waited, when it is past ``waiting_s`` (else None)."""
    if state != states.QUEUED or updated_at is None:
        return None
    waited = now - updated_at
    return waited if waited >= timedelta(seconds=limits.waiting_s) else None


# --- signals ---------------------------------------------------------------------------------------


def _emit(
    kind: Kind, subject: str, occurrence: str, title: str, source: str, detail: dict[str, Any], job_type: str | None
) -> None:
    from chalicelib.alerts import signals  # the alert interface (a leaf module: nothing of the product)

    tab = "failed" if kind in ("job.first_failure", "job.failure_rate") else "running" if kind == "job.stuck" else "queued"
    signals.emit(
        signals.Signal(
            kind=kind,
            subject=subject,
            occurrence=occurrence,
            title=title,
            scope=signals.Scope(job_type=job_type, source=source),
            link=f"{JOBS_LINK}?tab={tab}",
            detail=detail,
        )
    )


# --- storage (the jobs table's health rows; low level: dynamic attribute names) ---------------------


def _client() -> Any:
    return counts.CounterRow._get_connection().connection.client


def _table() -> str:
    name: str = counts.CounterRow.Meta.table_name
    return name


def _conditional_update(key: str, update: str, names: dict[str, str], values: dict[str, Any], condition: str) -> bool:
    """One conditional UpdateItem on a health row; False when the condition refused it."""
    from botocore.exceptions import ClientError

    from chalicelib.core.db import condition_failed

    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "Key": {"job_id": {"S": key}},
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
    }
    if values:
        kwargs["ExpressionAttributeValues"] = values
    try:
        _client().update_item(**kwargs)
    except ClientError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def _claim(key: str, now: datetime) -> bool:
    """True once per ``key`` (a conditional put of ``~health~claim~<key>``)."""
    return _conditional_update(
        f"{PREFIX}claim~{key}", "SET #at = :now", {"#at": "claimed_at", "#k": "job_id"}, {":now": {"S": iso(now) or ""}},
        "attribute_not_exists(#k)",
    )  # fmt: skip


# --- job.first_failure (the ledger's final failure transition) -------------------------------------


def failed(job_type: str, job_id: str, error_type: str | None = None, now: datetime | None = None) -> bool:
    """A job of ``job_type`` just failed for good (the ledger's transition held: once per job). Emits
    ``job.first_failure`` when the type has succeeded since the last signalled failure; never raises.
    ``error_type``: the exception's name only (an error's text may carry personal data; the ledger has it)."""
    key = f"{PREFIX}first~{job_type}"
    try:
        rows = counts.read_rows([key])  # the counters and this type's claim row: one BatchGetItem
        seen = rows.pop(key, {}).get("succeeded_seen", {}).get("N")
        total = counts.outcome_totals(rows).get((states.SUCCEEDED, job_type), 0)
        if total == 0 or (seen is not None and int(seen) >= total):  # no success since: not a *first* failure
            return False  # (a failure storm costs the one read, no write)
        won = _conditional_update(
            key,
            "SET #seen = :total, #job = :job, #at = :now",
            {"#seen": "succeeded_seen", "#job": "failed_job", "#at": "failed_at"},
            {":total": {"N": str(total)}, ":job": {"S": job_id}, ":now": {"S": iso(now or datetime.now(UTC)) or ""}},
            "attribute_not_exists(#seen) OR #seen < :total",
        )
    except Exception:  # job health must never break the failure path it watches
        logger.exception("job health: first failure not evaluated", extra={"job_type": job_type, "job_id": job_id})
        return False
    if won:
        _emit(
            "job.first_failure",
            job_type,
            job_id,
            f"{job_type}: first failure after {total} success{'es' if total != 1 else ''} (job {job_id})",
            "jobs",
            {"job_id": job_id, "succeeded_total": total, "error_type": (error_type or "")[:200] or None},
            job_type,
        )
    return won


# --- the watchdog's evaluation ---------------------------------------------------------------------


def _dlq_key(short: str) -> str:
    return f"{PREFIX}dlq~{short}"


def evaluate(now: datetime, limits: HealthLimits = LIMITS) -> dict[str, int]:
    """One look at the job runtime (the monitor watchdog calls it every 5 minutes): emits what it finds,
    once per occurrence. Each check runs even if another failed; the first error is raised at the end."""
    from chalicelib.jobs.queues import QUEUES

    out = {"failure_rate": 0, "stuck": 0, "waiting": 0, "dlq_not_empty": 0}
    rows = counts.read_rows([RATE_KEY, *(_dlq_key(q) for q in QUEUES)])  # one BatchGetItem: counters + health rows
    errors: list[BaseException] = []
    for check in (_failure_rate, _ledger, _dead_letters):
        try:
            for name, n in check(rows, now, limits).items():
                out[name] += n
        except Exception as exc:  # reported below, after the other checks ran
            logger.exception("job health check failed", extra={"check": check.__name__})
            errors.append(exc)
    if errors:
        raise errors[0]
    return out


def _failure_rate(rows: dict[str, dict[str, Any]], now: datetime, limits: HealthLimits) -> dict[str, int]:
    w = window_start(now, limits.window_s)
    row = rows.get(RATE_KEY, {})
    name = f"s{w}"
    if name in row:
        return {}  # this window's snapshot is taken: its judge was an earlier run
    current = snapshot(counts.outcome_totals({k: v for k, v in rows.items() if k.startswith(counts.PREFIX)}))
    old = [f"s{w - k * limits.window_s}" for k in range(limits.keep_windows, limits.keep_windows + 8)]
    names = {"#s": name, **{f"#o{n}": o for n, o in enumerate(old)}}
    update = "SET #s = :snap REMOVE " + ", ".join(f"#o{n}" for n in range(len(old)))
    if not _conditional_update(RATE_KEY, update, names, {":snap": {"S": json.dumps(current)}}, "attribute_not_exists(#s)"):
        return {}  # a concurrent watchdog run took it
    prev = row.get(f"s{w - limits.window_s}", {}).get("S")
    if prev is None:
        return {}  # no baseline: the first window (or the watchdog was down a whole window)
    start = datetime.fromtimestamp(w - limits.window_s, UTC)
    minutes = limits.window_s // 60
    found = high_rates(json.loads(prev), current, limits)
    for r in found:
        _emit(
            "job.failure_rate",
            r.job_type,
            iso(start) or "",
            f"{r.job_type}: {r.failed} of {r.jobs} jobs failed ({r.rate:.0%}) in the {minutes} minutes from {iso(start)}",
            "jobs",
            {
                "failed": r.failed,
                "succeeded": r.succeeded,
                "jobs": r.jobs,
                "rate": round(r.rate, 4),
                "window_start": iso(start),
                "window_minutes": minutes,
            },
            r.job_type,
        )
    return {"failure_rate": len(found)}


def _ledger(rows: dict[str, dict[str, Any]], now: datetime, limits: HealthLimits) -> dict[str, int]:
    from chalicelib.jobs.ledger import Job

    attrs = ["job_id", "type", "state", "heartbeat_at", "started_at", "updated_at", "timeout_s"]
    out = {"stuck": 0, "waiting": 0}
    n = limits.ledger_window
    for state in (states.RUNNING, states.QUEUED):
        job: Job
        for job in Job.by_state.query(state, attributes_to_get=attrs, limit=n, page_size=n):
            timeout_s = int(job.timeout_s or 300)
            if state == states.RUNNING and states.is_stuck(state, job.heartbeat_at, timeout_s, now):
                if _claim(f"stuck~{job.job_id}", now):
                    since = job.started_at or job.updated_at
                    minutes = int((now - since).total_seconds() // 60) if since else None
                    beat = int((now - job.heartbeat_at).total_seconds()) if job.heartbeat_at else None
                    _emit(
                        "job.stuck",
                        job.type,
                        job.job_id,
                        f"{job.type}: job {job.job_id} is stuck (no heartbeat for {beat}s; its timeout is {timeout_s}s)",
                        "jobs",
                        {"job_id": job.job_id, "minutes": minutes, "heartbeat_age_s": beat, "timeout_s": timeout_s},
                        job.type,
                    )
                    out["stuck"] += 1
            waited = waiting_for(state, job.updated_at, now, limits)
            if waited is not None and _claim(f"waiting~{job.job_id}", now):
                minutes = int(waited.total_seconds() // 60)
                _emit(
                    "job.waiting",
                    job.type,
                    job.job_id,
                    f"{job.type}: job {job.job_id} has waited {minutes} minutes in the queue",
                    "jobs",
                    {"job_id": job.job_id, "minutes": minutes},
                    job.type,
                )
                out["waiting"] += 1
    return out


def dlq_depth(name: str) -> int:
    """A queue's ``ApproximateNumberOfMessages`` (one GetQueueAttributes)."""
    from chalicelib.core import aws

    attrs = aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url(name), AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"].get("ApproximateNumberOfMessages", 0))


def _dead_letters(rows: dict[str, dict[str, Any]], now: datetime, limits: HealthLimits) -> dict[str, int]:
    from chalicelib.jobs.queues import QUEUES

    found = 0
    for short, spec in QUEUES.items():
        depth = dlq_depth(spec.dlq_name)
        key = _dlq_key(short)
        since = rows.get(key, {}).get("since", {}).get("S")
        if depth == 0:
            if since is not None:  # the episode is over: the next message starts a new one
                _conditional_update(key, "REMOVE #since", {"#since": "since"}, {":seen": {"S": since}}, "#since = :seen")
            continue
        if since is not None:
            continue  # this episode was signalled
        at = iso(now) or ""
        if not _conditional_update(
            key, "SET #since = :now", {"#since": "since"}, {":now": {"S": at}}, "attribute_not_exists(#since)"
        ):
            continue
        _emit(
            "dlq.not_empty",
            spec.dlq_name,
            at,
            f"Dead-letter queue {spec.dlq_name} holds {depth} message{'s' if depth != 1 else ''}",
            "queues",
            {"queue": short, "dead_letter_queue": spec.dlq_name, "messages": depth, "since": at},
            None,
        )
        found += 1
    return {"dlq_not_empty": found}
