"""The worker base every SQS consumer uses: partial batch failures, ledger transitions, heartbeats.

For each record: read the job id from the body → skip finished, cancelled or already-running jobs
(duplicate deliveries) → claim the run with a conditional update → run the job type's function
with a heartbeat → succeeded / failed (permanent, or transient and out of receives) / back to
queued (transient, SQS redelivers after the visibility timeout). Only failed transient records are
reported to SQS (``batchItemFailures``); the rest of the batch is deleted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.core import aws
from chalicelib.core.observability import logger, metrics, report_unhandled
from chalicelib.jobs import ledger, registry, states
from chalicelib.jobs.errors import PermanentJobError, RetryLater
from chalicelib.jobs.ledger import Job
from chalicelib.jobs.queues import QUEUES


@dataclass
class JobContext:
    job: Job
    run_id: str
    receive_count: int
    max_receives: int
    lambda_context: Any = None

    @property
    def final_attempt(self) -> bool:
        return self.receive_count >= self.max_receives

    def remaining_ms(self) -> int:
        """Time left in this invocation (a generous default off Lambda)."""
        if self.lambda_context is not None and hasattr(self.lambda_context, "get_remaining_time_in_millis"):
            return int(self.lambda_context.get_remaining_time_in_millis())
        return 15 * 60 * 1000

    def heartbeat(self) -> None:
        ledger.heartbeat(self.job.job_id, self.run_id)

    def cancelled(self) -> bool:
        current = ledger.find(self.job.job_id)
        return current is None or current.state == states.CANCELLED


class _Heartbeat:
    def __init__(self, job_id: str, run_id: str, every_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(job_id, run_id, every_s), daemon=True)

    def _beat(self, job_id: str, run_id: str, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                if not ledger.heartbeat(job_id, run_id):
                    return
            except Exception:  # noqa: BLE001 - a missed beat is not worth killing the job
                logger.warning("heartbeat failed", extra={"job_id": job_id})

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _body(record: SQSRecord) -> dict[str, Any]:
    try:
        body = json.loads(record.body)
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _job_id_from(record: SQSRecord) -> str | None:
    job_id = _body(record).get("job_id")
    return job_id if isinstance(job_id, str) and job_id else None


def _from_older_dispatch(record: SQSRecord, job: Job) -> bool:
    """A message sent before the job was last (re)dispatched: its outcome no longer speaks for the job."""
    sent = _body(record).get("dispatch_id")
    return bool(sent and job.dispatch_id and sent != job.dispatch_id)


def retry_delay_s(receive_count: int) -> int:
    """Exponential back-off before SQS offers a failed message again: 5 s, 20 s, 80 s … ≤ 15 min."""
    return min(900, 5 * int(4 ** max(0, receive_count - 1)))


def _back_off(record: SQSRecord, delay_s: int) -> None:
    """Replace the queue's visibility timeout with ``delay_s`` before SQS offers the message again."""
    try:
        name = record.event_source_arn.rsplit(":", 1)[-1]
        aws.client("sqs").change_message_visibility(
            QueueUrl=aws.queue_url(name), ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay_s
        )
    except Exception:  # noqa: BLE001 - without it SQS still redelivers, after the visibility timeout
        logger.warning("could not set retry back-off", exc_info=True)


def _report(job: Job, exc: BaseException, *, permanent: bool) -> None:
    report_unhandled(
        exc,
        {
            "kind": "job",
            "job_id": job.job_id,
            "job_type": job.type,
            "entity": {"type": job.entity_type, "id": job.entity_id} if job.entity_type else None,
            "permanent": permanent,
            "request_id": job.job_id,
        },
    )


class Reporter(Protocol):
    def __call__(self, job: Job, exc: BaseException, *, permanent: bool) -> None: ...


@dataclass(frozen=True)
class Policy:
    """The worker's seams: the back-off before SQS offers a failed message again (by receive count),
    and where a failed run is reported (an incident)."""

    retry_delay_s: Callable[[int], int] = retry_delay_s
    report: Reporter = _report


POLICY = Policy()  # what the queue functions use; tests swap it (no back-off, no incidents)


def _receive_count(record: SQSRecord) -> int:
    """SQS always sets ApproximateReceiveCount; a hand-built record may not (treated as the first)."""
    try:
        return int(record.attributes.approximate_receive_count or 1)
    except (KeyError, TypeError, ValueError):
        return 1


def run_record(record: SQSRecord, queue_short: str, lambda_context: Any = None, policy: Policy | None = None) -> None:
    """Process one message. Returns normally to delete it; raises to have SQS deliver it again.

    Any failure of the runtime itself (a throttled ledger write, say) also hands the message back
    with a back-off, so a job is never left without a message while it is not finished.
    """
    pol = policy or POLICY
    try:
        _run_record(record, queue_short, lambda_context, pol)
    except RetryLater:
        raise
    except Exception:
        _back_off(record, pol.retry_delay_s(_receive_count(record)))
        raise


def _run_record(record: SQSRecord, queue_short: str, lambda_context: Any, policy: Policy) -> None:
    job_id = _job_id_from(record)
    job = ledger.find(job_id) if job_id else None
    if job is None:
        orphan = ledger.put_orphan(record.body or "", f"message names no known job (job_id={job_id!r})")
        logger.error("unreadable job message recorded as failed job", extra={"orphan_job_id": orphan.job_id})
        return
    logger.append_keys(job_id=job.job_id, job_type=job.type)
    try:
        if job.state in states.TERMINAL:
            logger.info("job already finished; duplicate or stale message ignored", extra={"state": job.state})
            metrics.add_metric(name="JobMessageSkipped", unit="Count", value=1)
            return
        jt = registry.get(job.type)
        if jt is None:
            ledger.record_failure(job.job_id, None, "UnknownJobType", f"no handler for job type {job.type!r}", final=True)
            return
        claimed = ledger.start_run(job.job_id, stale_after_s=jt.timeout_s, seen=job)
        if claimed is None:
            current = ledger.find(job.job_id)
            if current is None or current.state != states.RUNNING:
                logger.info("job changed state under us; message ignored", extra={"state": getattr(current, "state", None)})
                return
            # Someone is running it right now. Keep this copy until that run ends (or dies and goes stale):
            # a job that is not finished never loses its last message.
            logger.info("job is being run elsewhere; message comes back after the run's timeout")
            metrics.add_metric(name="JobMessageDeferred", unit="Count", value=1)
            _back_off(record, min(900, jt.timeout_s + 5))
            raise RetryLater(f"job {job.job_id} is running elsewhere")
        job, run_id = claimed
        receive_count = _receive_count(record)
        ctx = JobContext(job, run_id, receive_count, QUEUES[queue_short].max_receive_count, lambda_context)
        started = time.monotonic()
        try:
            with _Heartbeat(job.job_id, run_id, every_s=max(1.0, min(30.0, jt.timeout_s / 3))):
                result = jt.load()(job, ctx)
        except PermanentJobError as exc:
            ledger.record_failure(job.job_id, run_id, type(exc).__name__, str(exc), final=True)
            metrics.add_metric(name="JobFailedPermanently", unit="Count", value=1)
            policy.report(job, exc, permanent=True)
            return
        except Exception as exc:
            final = ctx.final_attempt
            ledger.record_failure(job.job_id, run_id, type(exc).__name__, str(exc), final=final)
            metrics.add_metric(name="JobAttemptFailed", unit="Count", value=1)
            policy.report(job, exc, permanent=final)
            # Out of receives: visible again at once, so SQS moves it to the DLQ on its next receive.
            _back_off(record, 0 if final else policy.retry_delay_s(ctx.receive_count))
            raise RetryLater(str(exc)) from exc
        finished = ledger.finish(job.job_id, run_id, result)
        metrics.add_metric(name="JobSucceeded" if finished else "JobLostToTakeover", unit="Count", value=1)
        logger.info("job finished", extra={"seconds": round(time.monotonic() - started, 3), "recorded": finished})
    finally:
        logger.remove_keys(["job_id", "job_type"])


def process_batch(
    event: dict[str, Any], queue_short: str, lambda_context: Any = None, policy: Policy | None = None
) -> PartialItemFailureResponse:
    """The body of every job queue's Lambda: returns ``{"batchItemFailures": [...]}``."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event,
        record_handler=lambda record: run_record(record, queue_short, lambda_context, policy),
        processor=processor,
        context=lambda_context,
    )


def record_dead_letter(record: SQSRecord) -> None:
    """A message that exhausted its receives: the ledger job becomes failed (if it is not already)."""
    job_id = _job_id_from(record)
    job = ledger.find(job_id) if job_id else None
    if job is None:
        ledger.put_orphan(record.body or "", f"dead letter names no known job (job_id={job_id!r})")
        return
    if _from_older_dispatch(record, job):
        logger.info("dead letter from an earlier dispatch; the job was retried since", extra={"job_id": job.job_id})
        return
    if job.state == states.RUNNING and not job.stuck():
        logger.info("dead letter for a job that is running now; the live run will finish it", extra={"job_id": job.job_id})
        return
    if job.state in (states.QUEUED, states.RUNNING):
        reason = job.last_error.message if job.last_error else "no error was recorded"
        receives = int(job.attempts or 0)
        ledger.record_failure(job.job_id, None, "DeadLetter", f"gave up after {receives} attempts: {reason}", final=True)
        metrics.add_metric(name="JobDeadLettered", unit="Count", value=1)


def process_dead_letters(event: dict[str, Any], lambda_context: Any = None) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event,
        record_handler=record_dead_letter,
        processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
        context=lambda_context,
    )
