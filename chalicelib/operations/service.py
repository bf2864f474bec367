"""Operating jobs, the use cases behind Admin > Insights > Jobs: list, summarise, retry (one or many), cancel.

Every transition is one of the ledger's conditional updates, so two admins (or one double click)
can never queue a job twice: the loser gets a 409 naming the job's current state. Reads are index
queries that read about one page of items; nothing here scans the table.

- Listing with no filter shows the jobs that need attention: failed, running and queued, merged
  newest first (one bounded query per state, a cursor that remembers where each state stopped).
- ``state=stuck`` lists running jobs whose heartbeat is older than their type's timeout, then queued
  jobs untouched for longer than any delivery takes (their message was lost); both can be retried.
- Retrying removes the job's dead letter (if still in the DLQ) before queueing a fresh message,
  so a stale dead letter can never fail the new run.
- Bulk retry examines one bounded window of the failed (or cancelled) index per call, dry-run by
  default, and hands back a cursor: callers loop, at their own pace.

Each write returns what the audit log records as its result (``audit``); the route records it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chalicelib.core.db import utcnow
from chalicelib.core.errors import DomainError
from chalicelib.core.observability import metrics
from chalicelib.jobs import counts, dispatch, ledger, registry, states
from chalicelib.jobs.ledger import Job
from chalicelib.operations import domain, store
from chalicelib.operations.domain import Limits


@dataclass(frozen=True)
class Config:
    """The service's seams: how far the summary counts, and how a write reads the job it acts on."""

    limits: Limits = field(default_factory=Limits)
    read_job: Callable[[str], Job] = ledger.get


config = Config()  # what the routes use; tests swap it (dataclasses.replace) for a lower cap or a stale read


@dataclass
class Outcome:
    """A write's reply and what the audit log records as its result."""

    body: dict[str, Any]
    audit: dict[str, Any]


def _known() -> set[str]:
    return set(registry.known())


def _timeout_s(job: Job) -> int:
    return int(job.timeout_s or domain.DEFAULT_TIMEOUT_S)


# --- reads -------------------------------------------------------------------------------------


def get_job(job_id: str) -> Job:
    return ledger.get(job_id)


def detail(job: Job) -> dict[str, Any]:
    """The ledger's detail view, with a bounded payload and what an admin may do next."""
    out = job.to_detail()
    out["payload"] = domain.bounded_payload(out["payload"])
    out["actions"] = domain.actions(job.state, out["stuck"], job.type, _known())
    return out


def list_jobs(limit: int, next_token: str | None, state: str | None, job_type: str | None) -> tuple[list[Job], str | None]:
    """Newest first. ``state`` and/or ``type``; neither → failed, running and queued merged."""
    domain.check_type(job_type, _known())
    if state == domain.STUCK:
        return _stuck_page(job_type, limit, next_token)
    if state and job_type:
        # by_state with a type filter: read one page of `limit` entries, never the whole partition
        return store.state_page(state, job_type, limit, next_token)
    if state or job_type:
        return ledger.list_jobs(limit, next_token, state=state, job_type=job_type)
    return _merged(limit, next_token)


def _stuck_page(job_type: str | None, limit: int, next_token: str | None) -> tuple[list[Job], str | None]:
    """Stuck running jobs, then stuck queued ones: one filtered page of one partition per call."""
    phase, inner = states.RUNNING, next_token
    if next_token and next_token.startswith("q."):
        phase, inner = states.QUEUED, next_token[2:] or None
    jobs, token = store.state_page(phase, job_type, limit, inner, keep=lambda j: j.stuck())
    if token:
        return jobs, token if phase == states.RUNNING else f"q.{token}"
    return jobs, "q." if phase == states.RUNNING else None


def _merged(limit: int, next_token: str | None) -> tuple[list[Job], str | None]:
    """Failed, running and queued newest first: ≤ ``limit`` reads per state, merged by id (time order)."""
    cursor = domain.decode_positions(next_token)
    fetched: dict[str, list[Job]] = {}
    exhausted: dict[str, bool] = {}
    for st in domain.ATTENTION_STATES:
        after = cursor.get(st, "")
        if after is None:  # this state was finished on an earlier page
            continue
        fetched[st], exhausted[st] = store.newest_before(st, after, limit)
    merged = sorted((j for jobs in fetched.values() for j in jobs), key=lambda j: j.job_id, reverse=True)[:limit]
    taken = {j.job_id for j in merged}
    nxt: domain.Positions = {st: cursor.get(st, "") for st in domain.ATTENTION_STATES}
    for st, jobs in fetched.items():
        used = [j for j in jobs if j.job_id in taken]
        if exhausted[st] and len(used) == len(jobs):
            nxt[st] = None
        elif used:
            nxt[st] = used[-1].job_id
    done = all(v is None for v in nxt.values())
    return merged, None if done else domain.encode_positions(nxt)


def summary(limits: Limits | None = None) -> dict[str, Any]:
    """Counts per state and per type from the ledger's counters (:mod:`chalicelib.jobs.counts`: one
    BatchGetItem of its shard rows, exact), stuck jobs among the oldest running and queued entries (a
    window of ``domain.STUCK_WINDOW`` each; ``stuck_capped`` when a window was full: the ``stuck``
    list is exact), and SQS depths. At most ``SHARDS + 2 x STUCK_WINDOW`` items, whatever the ledger's size."""
    del limits  # the counts are exact now: nothing is capped
    now = utcnow()
    by_state: dict[str, int] = dict.fromkeys(states.STATES, 0)
    by_type: dict[str, dict[str, int]] = {}
    for (st, job_type), n in sorted(counts.read().items()):
        if n == 0:
            continue
        by_state[st] = by_state.get(st, 0) + n
        by_type.setdefault(job_type, {})[st] = n
    stuck, stuck_capped = store.count_stuck(now, domain.STUCK_WINDOW)
    return {
        "states": by_state,
        "stuck": stuck,
        "stuck_capped": stuck_capped,
        "types": by_type,
        "capped_states": [],
        "queues": store.queue_depths(),
        "counted_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


# --- writes ------------------------------------------------------------------------------------


def _conflict(job: Job, action: str) -> DomainError:
    return domain.conflict(job.job_id, job.state, job.stuck(), action)


def retry_job(job_id: str) -> Outcome:
    """failed/cancelled → queued with a fresh message. A second call while queued → 409 already_queued."""
    job = config.read_job(job_id)
    if not states.can_retry(job.state, job.stuck()):
        raise _conflict(job, "retried")
    if job.type not in _known():
        raise domain.not_retryable(job_id, job.type)
    removed = store.remove_dead_letters(job.queue, {job_id})
    stale = job.state == states.QUEUED  # stuck: its message is presumed lost, so it is sent again
    requeued = _requeue_and_send(job_id, _timeout_s(job) if stale else None)
    return Outcome(
        {"job": detail(requeued), "dead_letters_removed": removed},
        {"state": requeued.state, "attempts": int(requeued.attempts or 0), "dead_letters_removed": removed},
    )


def _requeue_and_send(job_id: str, stuck_queued_timeout_s: int | None = None) -> Job:
    queued_before = None
    if stuck_queued_timeout_s is not None:
        queued_before = utcnow() - timedelta(seconds=states.queued_stale_after_s(stuck_queued_timeout_s))
    requeued = ledger.requeue(job_id, states.RETRYABLE, queued_before)
    if requeued is None:  # another admin (or click) got there first
        raise _conflict(ledger.get(job_id), "retried")
    try:
        dispatch.send(requeued)
    except Exception as exc:  # dispatch.send has marked the job failed: it can be retried again
        raise domain.EnqueueFailed(
            f"Job {job_id} could not be queued ({type(exc).__name__}); it is failed again and can be retried.",
            details={"job_id": job_id},
        ) from exc
    metrics.add_metric(name="JobRetried", unit="Count", value=1)
    return requeued


def cancel_job(job_id: str) -> Outcome:
    """queued, failed or stuck → cancelled; the worker skips its message; its dead letter is removed."""
    job = config.read_job(job_id)
    stale_before = utcnow() - timedelta(seconds=_timeout_s(job))
    cancelled = ledger.cancel(job_id, stale_before=stale_before)
    if cancelled is None:
        raise _conflict(ledger.get(job_id), "cancelled")
    removed = store.remove_dead_letters(job.queue, {job_id})
    metrics.add_metric(name="JobCancelled", unit="Count", value=1)
    return Outcome(
        {"job": detail(cancelled), "dead_letters_removed": removed},
        {"state": cancelled.state, "previous_state": job.state, "dead_letters_removed": removed},
    )


def bulk_retry(
    *,
    job_type: str | None,
    error_contains: str | None,
    state: str = states.FAILED,
    apply: bool = False,
    limit: int = 50,
    next_token: str | None = None,
) -> Outcome:
    """Retry the failed (or cancelled) jobs matching a type and/or an error substring, newest first.

    Each call examines one window of the state's index — ``limit`` entries when applying (≤ 100, so
    a call stays short), :data:`~chalicelib.operations.domain.DRY_RUN_WINDOW` for a dry run — and
    returns ``next_token`` while more remain. Applying needs a filter (no blind retry-all); every retry
    is the conditional single-job retry, so repeating a call never queues a job twice.
    """
    known = _known()
    domain.check_type(job_type, known, field="type")
    domain.check_bulk_filter(apply, job_type, error_contains)
    window = limit if apply else domain.DRY_RUN_WINDOW
    examined, token = store.state_page(state, job_type, window, next_token)
    matched = [j for j in examined if domain.error_matches(error_contains, _error_parts(j))]
    out: dict[str, Any] = {
        "dry_run": not apply,
        "examined": len(examined),
        "matched": len(matched),
        "sample": [j.to_dict() for j in matched[: domain.SAMPLE_SIZE]],
        "next_token": token,
    }
    if apply:
        out.update(retry_listed(matched, known))
    return Outcome(
        out,
        {
            "dry_run": not apply,
            "examined": out["examined"],
            "matched": out["matched"],
            "retried": out.get("retried", []),
            "skipped": out.get("skipped", []),
            "more": token is not None,
        },
    )


def retry_listed(jobs: list[Job], known: set[str] | None = None) -> dict[str, Any]:
    """Retry each of ``jobs`` (read by the caller) with the conditional single-job retry, their dead letters
    removed first (one bounded clean-up per queue): ``{"retried", "skipped", "dead_letters_removed"}``. A job
    another admin queued meanwhile is skipped (``already_queued``), so repeating a call queues nothing twice."""
    known = _known() if known is None else known
    retried: list[str] = []
    skipped: list[dict[str, str]] = []
    by_queue: dict[str, set[str]] = {}
    for j in jobs:
        if j.type in known:
            by_queue.setdefault(j.queue, set()).add(j.job_id)
    removed = sum(store.remove_dead_letters(q, ids) for q, ids in by_queue.items())
    for j in jobs:
        if j.type not in known:
            skipped.append({"job_id": j.job_id, "reason": "not_retryable"})
            continue
        try:
            _requeue_and_send(j.job_id)
            retried.append(j.job_id)
        except DomainError as err:  # already queued by someone else, or enqueue failed
            skipped.append({"job_id": j.job_id, "reason": err.code})
    return {"retried": retried, "skipped": skipped, "dead_letters_removed": removed}


def jobs_by_id(job_ids: list[str]) -> list[Job]:
    """The ledger rows of ``job_ids`` that exist, in the order given (one consistent BatchGetItem per 100)."""
    return store.jobs_by_id(job_ids)


def _error_parts(job: Job) -> list[str]:
    return [job.last_error.type, job.last_error.message] if job.last_error else []
