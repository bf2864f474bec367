"""``dispatch()``: the one way producers start asynchronous work.

It writes the ledger record (and, with a dedupe key, the key's claim, in the same DynamoDB
transaction) and then sends the SQS message carrying the job id in its body. SQS redrive changes
message ids, so the body is the job's identity. A second dispatch with the same dedupe key, from any
thread or process, returns the existing job instead of creating another.
"""

from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import aws
from chalicelib.core.db import transaction, utcnow
from chalicelib.core.observability import logger, metrics
from chalicelib.jobs import counts, ledger, registry, rollups, states
from chalicelib.jobs.ledger import Job, JobDedupe
from chalicelib.jobs.queues import QUEUES


class UnknownJobType(ValueError):
    pass


def message_body(job: Job) -> str:
    return json.dumps({"job_id": job.job_id, "type": job.type, "dispatch_id": job.dispatch_id, "v": 1})


def send(job: Job) -> None:
    """Send (or re-send) the job's message. On failure the job is marked failed, visibly."""
    spec = QUEUES[job.queue]
    try:
        aws.client("sqs").send_message(QueueUrl=aws.queue_url(spec.name), MessageBody=message_body(job))
    except Exception as exc:
        ledger.record_failure(job.job_id, None, type(exc).__name__, f"could not enqueue: {exc}", final=True)
        raise


def dispatch(
    job_type: str,
    payload: dict[str, Any],
    *,
    entity: dict[str, str] | None = None,
    dedupe_key: str | None = None,
) -> tuple[Job, bool]:
    """Create and enqueue a job. Returns ``(job, created)``; ``created`` is False for a duplicate."""
    jt = registry.get(job_type)
    if jt is None:
        raise UnknownJobType(job_type)
    job = ledger.new_job(job_type, jt.queue, payload, entity, dedupe_key)
    row, adds = counts.moves(job.job_id, job_type, None, states.QUEUED)  # the job, its count and rollups, together
    rolled = rollups.items(job.job_id, job_type, None, states.QUEUED, at=job.created_at)
    if dedupe_key is None:
        with transaction() as tx:
            tx.save(job, condition=Job.job_id.does_not_exist())
            tx.update(row, actions=adds)
            for item, item_actions in rolled:
                tx.update(item, actions=item_actions)
    else:
        claim = JobDedupe(dedupe_key=dedupe_key, job_id=job.job_id, created_at=utcnow())
        try:
            with transaction() as tx:
                tx.save(claim, condition=JobDedupe.dedupe_key.does_not_exist())
                tx.save(job, condition=Job.job_id.does_not_exist())
                tx.update(row, actions=adds)
                for item, item_actions in rolled:
                    tx.update(item, actions=item_actions)
        except TransactWriteError as exc:
            existing = _existing(dedupe_key)
            if existing is not None:
                metrics.add_metric(name="JobDispatchDeduplicated", unit="Count", value=1)
                return existing, False
            raise exc
    send(job)
    logger.info("job dispatched", extra={"job_id": job.job_id, "job_type": job_type, "dedupe_key": dedupe_key})
    metrics.add_metric(name="JobDispatched", unit="Count", value=1)
    return job, True


def _existing(dedupe_key: str) -> Job | None:
    try:
        claim = JobDedupe.get(dedupe_key, consistent_read=True)
    except JobDedupe.DoesNotExist:
        return None
    return ledger.find(claim.job_id)


def release_dedupe(dedupe_key: str) -> None:
    """Forget a dedupe claim so the same key may start a fresh job (for work that can be redone)."""
    JobDedupe(dedupe_key=dedupe_key).delete()
