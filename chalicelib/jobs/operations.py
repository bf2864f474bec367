"""Operating jobs: list, summarise, retry (one or many) and cancel — the rules behind Admin > Insights > Jobs.

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
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import QueryError

from chalicelib.core import audit, aws
from chalicelib.core.db import decode_token, encode_token, utcnow
from chalicelib.core.errors import ApiError, BadRequest, Conflict, NotFound, ValidationFailed
from chalicelib.core.observability import logger, metrics
from chalicelib.jobs import dispatch, ledger, registry, states
from chalicelib.jobs.ledger import Job
from chalicelib.jobs.queues import QUEUES

STUCK = "stuck"  # a pseudo-state for listing: running with a stale heartbeat, or queued with its message lost
ATTENTION_STATES = (states.FAILED, states.RUNNING, states.QUEUED)  # the default list, merged newest first
ORPHAN_TYPE = "unknown"  # the ledger's type for messages that named no known job
JOB_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")  # ULID
SAMPLE_SIZE = 10
DRY_RUN_WINDOW = 1000  # ledger entries a dry-run call examines (one query page, ≤ 1 MB)
DLQ_SCAN_LIMIT = 100  # dead letters examined per clean-up (bounded receive → delete)
COUNT_CAP = 50_000  # per state: beyond this the summary says "at least"
# Succeeded and cancelled jobs pile up for ever and need no attention: counting them exactly would read
# the whole history on every refresh of the Jobs page (every index item is a full ledger row).
SETTLED_COUNT_CAP = 1_000
MAX_PAYLOAD_CHARS = 8192


class EnqueueFailed(ApiError):
    status, code = 503, "enqueue_failed"


# --- reads -------------------------------------------------------------------------------------


def check_job_id(job_id: str) -> None:
    if not JOB_ID.match(job_id or ""):
        raise NotFound(f"Job {job_id[:64]} does not exist.", code="job_not_found", details={"job_id": job_id[:64]})


def get_job(job_id: str) -> Job:
    check_job_id(job_id)
    return ledger.get(job_id)


def check_type(job_type: str | None, field: str = "query.type") -> None:
    if job_type is None or job_type in registry.known() or job_type == ORPHAN_TYPE:
        return
    known = sorted([*registry.known(), ORPHAN_TYPE])
    raise ValidationFailed(
        f"Unknown job type {job_type!r}.", details={"fields": {field: f"must be one of {', '.join(known)}"}, "known_types": known}
    )


def detail(job: Job) -> dict[str, Any]:
    """The ledger's detail view, with a bounded payload and what an admin may do next."""
    out = job.to_detail()
    text = json.dumps(out["payload"], default=str)
    if len(text) > MAX_PAYLOAD_CHARS:
        keys = sorted(out["payload"]) if isinstance(out["payload"], dict) else []
        out["payload"] = {"truncated": True, "chars": len(text), "keys": keys[:50]}
    stuck = out["stuck"]
    out["actions"] = {
        "retry": states.can_retry(job.state, stuck) and job.type in registry.known(),
        "cancel": states.can_cancel(job.state, stuck),
    }
    return out


def list_jobs(limit: int, next_token: str | None, state: str | None, job_type: str | None) -> tuple[list[Job], str | None]:
    """Newest first. ``state`` and/or ``type``; neither → failed, running and queued merged."""
    check_type(job_type)
    if state == STUCK:
        return _stuck_page(job_type, limit, next_token)
    if state and job_type:
        # by_state with a type filter: read one page of `limit` entries, never the whole partition
        return _one_page(state, job_type, limit, next_token)
    if state or job_type:
        return ledger.list_jobs(limit, next_token, state=state, job_type=job_type)
    return _merged(limit, next_token)


def _stuck_page(job_type: str | None, limit: int, next_token: str | None) -> tuple[list[Job], str | None]:
    """Stuck running jobs, then stuck queued ones: one filtered page of one partition per call."""
    phase, inner = states.RUNNING, next_token
    if next_token and next_token.startswith("q."):
        phase, inner = states.QUEUED, next_token[2:] or None
    jobs, token = _one_page(phase, job_type, limit, inner, keep=lambda j: j.stuck())
    if token:
        return jobs, token if phase == states.RUNNING else f"q.{token}"
    return jobs, "q." if phase == states.RUNNING else None


def _one_page(
    state: str, job_type: str | None, limit: int, next_token: str | None, keep: Callable[[Job], bool] | None = None
) -> tuple[list[Job], str | None]:
    """One DynamoDB page of ``limit`` entries of a state partition, filtered: may hold fewer items, never more reads."""
    it = Job.by_state.query(
        state,
        filter_condition=(Job.type == job_type) if job_type else None,
        scan_index_forward=False,
        page_size=limit,
        last_evaluated_key=decode_token(next_token),
    )
    raw, lek = _first_page(it)
    jobs = [Job.from_raw_data(item) for item in raw]
    if keep is not None:
        jobs = [j for j in jobs if keep(j)]
    return jobs, encode_token(lek)


def _first_page(it: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    try:
        page = next(it.page_iter)
    except StopIteration:
        return [], None
    except QueryError as exc:
        if exc.cause_response_code == "ValidationException":  # a forged cursor
            raise BadRequest("next_token is not valid.", code="invalid_next_token") from exc
        raise
    return page.get("Items", []), page.get("LastEvaluatedKey")


def _merged(limit: int, next_token: str | None) -> tuple[list[Job], str | None]:
    """Failed, running and queued newest first: ≤ ``limit`` reads per state, merged by id (time order)."""
    cursor = _decode_merged(next_token)
    fetched: dict[str, list[Job]] = {}
    exhausted: dict[str, bool] = {}
    for st in ATTENTION_STATES:
        after = cursor.get(st, "")
        if after is None:  # this state was finished on an earlier page
            continue
        cond = Job.job_id < after if after else None
        it = Job.by_state.query(st, cond, scan_index_forward=False, limit=limit, page_size=limit)
        fetched[st] = list(it)
        exhausted[st] = it.last_evaluated_key is None
    merged = sorted((j for jobs in fetched.values() for j in jobs), key=lambda j: j.job_id, reverse=True)[:limit]
    taken = {j.job_id for j in merged}
    nxt: dict[str, str | None] = {st: cursor.get(st, "") for st in ATTENTION_STATES}
    for st, jobs in fetched.items():
        used = [j for j in jobs if j.job_id in taken]
        if exhausted[st] and len(used) == len(jobs):
            nxt[st] = None
        elif used:
            nxt[st] = used[-1].job_id
    done = all(v is None for v in nxt.values())
    return merged, None if done else _encode_merged(nxt)


def _encode_merged(positions: dict[str, str | None]) -> str:
    raw = json.dumps({"merged": positions}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_merged(token: str | None) -> dict[str, str | None]:
    if not token:
        return {}
    bad = BadRequest("next_token is not valid.", code="invalid_next_token", details={"fields": {"next_token": "malformed"}})
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise bad from exc
    positions = value.get("merged") if isinstance(value, dict) else None
    if not isinstance(positions, dict) or not all(k in ATTENTION_STATES and _position_ok(v) for k, v in positions.items()):
        raise bad
    return positions


def _position_ok(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, str) and bool(JOB_ID.match(v)))


def summary() -> dict[str, Any]:
    """Counts per state and per type (index queries reading only type and heartbeat), and SQS depths.

    Counts stop at a cap per state (``capped_states`` lists where): ``COUNT_CAP`` for the states that
    need attention, ``SETTLED_COUNT_CAP`` for succeeded and cancelled, so a refresh reads at most a few
    thousand index items whatever the history."""
    by_state: dict[str, int] = {}
    by_type: dict[str, dict[str, int]] = {}
    capped: list[str] = []
    stuck = 0
    now = utcnow()
    for st in states.STATES:
        n = 0
        attrs = ["job_id", "type"]
        if st in (states.RUNNING, states.QUEUED):  # what "stuck" needs
            attrs += ["state", "heartbeat_at", "updated_at", "timeout_s"]
        for job in Job.by_state.query(st, attributes_to_get=attrs):
            n += 1
            counts = by_type.setdefault(job.type, {})
            counts[st] = counts.get(st, 0) + 1
            if states.is_stuck(st, job.heartbeat_at, int(job.timeout_s or 300), now, job.updated_at):
                stuck += 1
            if n >= (SETTLED_COUNT_CAP if st in (states.SUCCEEDED, states.CANCELLED) else COUNT_CAP):
                capped.append(st)
                break
        by_state[st] = n
    return {
        "states": by_state,
        "stuck": stuck,
        "types": by_type,
        "capped_states": capped,
        "queues": queue_depths(),
        "counted_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def queue_depths() -> list[dict[str, Any]]:
    """Each job queue and its dead-letter queue: SQS's approximate message counts."""
    out = []
    for short, spec in QUEUES.items():
        out.append({"queue": short, "main": _depth(spec.name), "dead_letter": _depth(spec.dlq_name)})
    return out


def _depth(name: str) -> dict[str, Any]:
    wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    try:
        attrs = aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url(name), AttributeNames=wanted)["Attributes"]
    except (ClientError, BotoCoreError) as exc:
        logger.warning("queue depth unavailable", extra={"queue": name, "error": str(exc)})
        return {"name": name, "error": type(exc).__name__}
    visible, in_flight, delayed = (int(attrs.get(k, 0)) for k in wanted)
    return {"name": name, "messages": visible, "messages_not_visible": in_flight, "messages_delayed": delayed}


# --- writes ------------------------------------------------------------------------------------


def _conflict_for(job: Job, action: str) -> Conflict:
    """The 409 for a job in a state where ``action`` is not possible."""
    stuck = job.stuck()
    codes = {
        states.QUEUED: "already_queued",
        states.RUNNING: "job_running",
        states.SUCCEEDED: "already_succeeded",
        states.CANCELLED: "already_cancelled",
        states.FAILED: "job_failed",
    }
    code = codes[job.state] if job.state in codes else "invalid_state"
    what = "stuck " if stuck else ""
    return Conflict(
        f"Job {job.job_id} is {what}{job.state}: it cannot be {action} now.",
        code=code,
        details={"job_id": job.job_id, "state": job.state, "stuck": stuck},
    )


def _audited(actor: dict[str, Any], action: str, target: str, params: dict[str, Any], fn: Callable[[], Any]) -> Any:
    """Run an admin action and record it, whatever its outcome (success, conflict, not found).

    A result dict may carry an ``"audit"`` key: that (popped) is what the log records as the result.
    """
    try:
        result = fn()
    except ApiError as err:
        audit.record(actor, action, target, params, {"status": err.status, "code": err.code})
        raise
    except Exception as exc:
        audit.record(actor, action, target, params, {"status": 500, "error": type(exc).__name__})
        raise
    outcome = result.pop("audit", result) if isinstance(result, dict) else result
    audit.record(actor, action, target, params, outcome)
    return result


def retry_job(job_id: str, actor: dict[str, Any]) -> dict[str, Any]:
    """failed/cancelled → queued with a fresh message. A second call while queued → 409 already_queued."""

    def run() -> dict[str, Any]:
        job = get_job(job_id)
        if not states.can_retry(job.state, job.stuck()):
            raise _conflict_for(job, "retried")
        if job.type not in registry.known():
            raise Conflict(
                f"Job {job_id} has type {job.type!r}, which no worker runs: it cannot be retried.",
                code="not_retryable",
                details={"job_id": job_id, "type": job.type},
            )
        removed = remove_dead_letters(job.queue, {job_id})
        stale = job.state == states.QUEUED  # stuck: its message is presumed lost, so it is sent again
        requeued = _requeue_and_send(job_id, int(job.timeout_s or 300) if stale else None)
        return {
            "job": detail(requeued),
            "dead_letters_removed": removed,
            "audit": {
                "status": 202,
                "state": requeued.state,
                "attempts": int(requeued.attempts or 0),
                "dead_letters_removed": removed,
            },
        }

    return _audited(actor, "job.retry", f"job:{job_id}", {"job_id": job_id}, run)


def _requeue_and_send(job_id: str, stuck_queued_timeout_s: int | None = None) -> Job:
    queued_before = None
    if stuck_queued_timeout_s is not None:
        queued_before = utcnow() - timedelta(seconds=states.queued_stale_after_s(stuck_queued_timeout_s))
    requeued = ledger.requeue(job_id, states.RETRYABLE, queued_before)
    if requeued is None:  # another admin (or click) got there first
        raise _conflict_for(ledger.get(job_id), "retried")
    try:
        dispatch.send(requeued)
    except Exception as exc:  # dispatch.send has marked the job failed: it can be retried again
        raise EnqueueFailed(
            f"Job {job_id} could not be queued ({type(exc).__name__}); it is failed again and can be retried.",
            details={"job_id": job_id},
        ) from exc
    metrics.add_metric(name="JobRetried", unit="Count", value=1)
    return requeued


def cancel_job(job_id: str, actor: dict[str, Any]) -> dict[str, Any]:
    """queued, failed or stuck → cancelled; the worker skips its message; its dead letter is removed."""

    def run() -> dict[str, Any]:
        job = get_job(job_id)
        stale_before = utcnow() - timedelta(seconds=int(job.timeout_s or 300))
        cancelled = ledger.cancel(job_id, stale_before=stale_before)
        if cancelled is None:
            raise _conflict_for(ledger.get(job_id), "cancelled")
        removed = remove_dead_letters(job.queue, {job_id})
        metrics.add_metric(name="JobCancelled", unit="Count", value=1)
        return {
            "job": detail(cancelled),
            "dead_letters_removed": removed,
            "audit": {"status": 200, "state": cancelled.state, "previous_state": job.state, "dead_letters_removed": removed},
        }

    return _audited(actor, "job.cancel", f"job:{job_id}", {"job_id": job_id}, run)


def bulk_retry(
    actor: dict[str, Any],
    *,
    job_type: str | None,
    error_contains: str | None,
    state: str = states.FAILED,
    apply: bool = False,
    limit: int = 50,
    next_token: str | None = None,
) -> dict[str, Any]:
    """Retry the failed (or cancelled) jobs matching a type and/or an error substring, newest first.

    Each call examines one window of the state's index — ``limit`` entries when applying (≤ 100, so
    a call stays short), :data:`DRY_RUN_WINDOW` for a dry run — and returns ``next_token`` while
    more remain. Applying needs a filter (no blind retry-all); every retry is the conditional
    single-job retry, so repeating a call never queues a job twice.
    """
    check_type(job_type, field="type")
    if apply and not (job_type or error_contains):
        raise ValidationFailed(
            "Applying a bulk retry needs a filter: type and/or error_contains (preview without apply first).",
            code="filter_required",
            details={"fields": {"type": "type or error_contains is required with apply", "error_contains": "see type"}},
        )
    params = {
        "type": job_type,
        "error_contains": error_contains,
        "state": state,
        "apply": apply,
        "limit": limit,
        "next_token": next_token,
    }

    def run() -> dict[str, Any]:
        window = limit if apply else DRY_RUN_WINDOW
        examined, token = _one_page(state, job_type, window, next_token)
        needle = (error_contains or "").casefold()
        matched = [j for j in examined if not needle or needle in _error_text(j)]
        out: dict[str, Any] = {
            "dry_run": not apply,
            "examined": len(examined),
            "matched": len(matched),
            "sample": [j.to_dict() for j in matched[:SAMPLE_SIZE]],
            "next_token": token,
        }
        if apply:
            retried, skipped = [], []
            by_queue: dict[str, set[str]] = {}
            for j in matched:
                if j.type in registry.known():
                    by_queue.setdefault(j.queue, set()).add(j.job_id)
            removed = sum(remove_dead_letters(q, ids) for q, ids in by_queue.items())
            for j in matched:
                if j.type not in registry.known():
                    skipped.append({"job_id": j.job_id, "reason": "not_retryable"})
                    continue
                try:
                    _requeue_and_send(j.job_id)
                    retried.append(j.job_id)
                except ApiError as err:  # already queued by someone else, or enqueue failed
                    skipped.append({"job_id": j.job_id, "reason": err.code})
            out.update(retried=retried, skipped=skipped, dead_letters_removed=removed)
        out["audit"] = {
            "status": 200,
            "dry_run": not apply,
            "examined": out["examined"],
            "matched": out["matched"],
            "retried": out.get("retried", []),
            "skipped": out.get("skipped", []),
            "more": token is not None,
        }
        return out

    return _audited(actor, "job.bulk_retry", f"jobs:{state}", params, run)


def _error_text(job: Job) -> str:
    parts = [job.last_error.type, job.last_error.message] if job.last_error else []
    return " ".join(parts).casefold()


# --- dead letters ------------------------------------------------------------------------------


def _body_job_id(body: str) -> str | None:
    try:
        value = json.loads(body)
    except (TypeError, ValueError):
        return None
    return value.get("job_id") if isinstance(value, dict) else None


def remove_dead_letters(queue_short: str, job_ids: set[str], max_messages: int = DLQ_SCAN_LIMIT) -> int:
    """Delete the dead letters of ``job_ids`` from the queue's DLQ (receive → delete, bounded).

    Messages of other jobs are made visible again at once. Best effort: an SQS failure is logged
    and the count so far returned (the DLQ consumer ignores letters of jobs that are not running).
    """
    spec = QUEUES.get(queue_short)
    if spec is None or not job_ids:
        return 0
    sqs = aws.client("sqs")
    removed, seen = 0, 0
    others: list[dict[str, Any]] = []
    remaining = set(job_ids)
    try:
        url = aws.queue_url(spec.dlq_name)
        while seen < max_messages and remaining:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not msgs:
                break
            seen += len(msgs)
            for m in msgs:
                jid = _body_job_id(m.get("Body", ""))
                if jid in job_ids:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    remaining.discard(jid)
                    removed += 1
                else:
                    others.append(m)
        for i in range(0, len(others), 10):
            chunk = enumerate(others[i : i + 10])
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for n, m in chunk]
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("dead-letter clean-up incomplete", extra={"queue": spec.dlq_name, "error": str(exc)})
    return removed
