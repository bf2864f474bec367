"""Operating jobs, the reads and writes beyond the ledger's own: one bounded page of a state's index,
the newest entries per attention state, the summary's counting reads, and SQS (queue depths, dead
letters). Index queries only: nothing here scans the table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import QueryError

from chalicelib.core import aws
from chalicelib.core.db import decode_token, encode_token
from chalicelib.core.observability import logger
from chalicelib.jobs import states
from chalicelib.jobs.ledger import Job
from chalicelib.jobs.queues import QUEUES
from chalicelib.operations import domain


def state_page(
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
    try:
        first = next(it.page_iter)
    except StopIteration:
        return [], None
    except QueryError as exc:
        if exc.cause_response_code == "ValidationException":  # a forged cursor
            raise domain.invalid_token() from exc
        raise
    jobs = [Job.from_raw_data(item) for item in first.get("Items", [])]
    if keep is not None:
        jobs = [j for j in jobs if keep(j)]
    return jobs, encode_token(first.get("LastEvaluatedKey"))


def newest_before(state: str, before: str, limit: int) -> tuple[list[Job], bool]:
    """≤ ``limit`` jobs of ``state`` newest first, older than id ``before`` ("": from the newest);
    with whether the state has nothing more."""
    cond = Job.job_id < before if before else None
    it = Job.by_state.query(state, cond, scan_index_forward=False, limit=limit, page_size=limit)
    jobs = list(it)
    return jobs, it.last_evaluated_key is None


def jobs_by_id(job_ids: list[str]) -> list[Job]:
    """The ledger rows of ``job_ids`` that exist, in the order given (consistent: a retry reads what it acts on)."""
    ids = list(dict.fromkeys(job_ids))
    found = {j.job_id: j for j in Job.batch_get(ids, consistent_read=True)} if ids else {}
    return [found[i] for i in ids if i in found]


@dataclass
class StateCount:
    count: int = 0
    capped: bool = False
    stuck: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def count_state(state: str, cap: int, now: datetime) -> StateCount:
    """The jobs of ``state`` (up to ``cap``), per type, and how many are stuck: reading only keys and type
    (and, for running and queued, what "stuck" needs)."""
    attrs = ["job_id", "type"]
    if state in (states.RUNNING, states.QUEUED):
        attrs += ["state", "heartbeat_at", "updated_at", "timeout_s"]
    out = StateCount()
    for job in Job.by_state.query(state, attributes_to_get=attrs):
        out.count += 1
        out.by_type[job.type] = out.by_type.get(job.type, 0) + 1
        timeout_s = int(job.timeout_s or domain.DEFAULT_TIMEOUT_S)
        if states.is_stuck(state, job.heartbeat_at, timeout_s, now, job.updated_at):
            out.stuck += 1
        if out.count >= cap:
            out.capped = True
            break
    return out


def count_stuck(now: datetime, window: int) -> tuple[int, bool]:
    """Stuck jobs among the ``window`` oldest running and the ``window`` oldest queued entries (≤ 2 x window
    items read), and whether a window was full (there may be more)."""
    attrs = ["job_id", "type", "state", "heartbeat_at", "updated_at", "timeout_s"]
    stuck, capped = 0, False
    for state in (states.RUNNING, states.QUEUED):
        read = 0
        for job in Job.by_state.query(state, attributes_to_get=attrs, limit=window, page_size=window):
            read += 1
            timeout_s = int(job.timeout_s or domain.DEFAULT_TIMEOUT_S)
            if states.is_stuck(state, job.heartbeat_at, timeout_s, now, job.updated_at):
                stuck += 1
        capped |= read >= window
    return stuck, capped


# --- SQS -----------------------------------------------------------------------------------------


def queue_depths() -> list[dict[str, Any]]:
    """Each job queue and its dead-letter queue: SQS's approximate message counts."""
    return [{"queue": short, "main": _depth(spec.name), "dead_letter": _depth(spec.dlq_name)} for short, spec in QUEUES.items()]


def _depth(name: str) -> dict[str, Any]:
    wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    try:
        attrs = aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url(name), AttributeNames=wanted)["Attributes"]
    except (ClientError, BotoCoreError) as exc:
        logger.warning("queue depth unavailable", extra={"queue": name, "error": str(exc)})
        return {"name": name, "error": type(exc).__name__}
    visible, in_flight, delayed = (int(attrs.get(k, 0)) for k in wanted)
    return {"name": name, "messages": visible, "messages_not_visible": in_flight, "messages_delayed": delayed}


def _body_job_id(body: str) -> str | None:
    try:
        value = json.loads(body)
    except (TypeError, ValueError):
        return None
    job_id = value.get("job_id") if isinstance(value, dict) else None
    return job_id if isinstance(job_id, str) else None


def remove_dead_letters(queue_short: str, job_ids: Iterable[str], max_messages: int = domain.DLQ_SCAN_LIMIT) -> int:
    """Delete the dead letters of ``job_ids`` from the queue's DLQ (receive → delete, bounded).

    Messages of other jobs are made visible again at once. Best effort: an SQS failure is logged
    and the count so far returned (the DLQ consumer ignores letters of jobs that are not running).
    """
    wanted = set(job_ids)
    spec = QUEUES.get(queue_short)
    if spec is None or not wanted:
        return 0
    sqs = aws.client("sqs")
    removed, seen = 0, 0
    others: list[dict[str, Any]] = []
    remaining = set(wanted)
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
                if jid in wanted:
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
