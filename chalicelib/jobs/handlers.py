"""The Lambda functions behind the job queues and their dead-letter queues (thin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.jobs.queues import QUEUES

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

bp = Blueprint(__name__)

# The worker (and powertools' batch utilities) load on a queue function's first message, so the
# API function, which imports this module too, does not pay for them at cold start.


def process_batch(event: dict[str, Any], queue_short: str, context: Any) -> PartialItemFailureResponse:
    from chalicelib.jobs.worker import process_batch as run

    return run(event, queue_short, context)


def process_dead_letters(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    from chalicelib.jobs.worker import process_dead_letters as run

    return run(event, context)


@bp.on_sqs_message(queue=QUEUES["jobs"].name, batch_size=QUEUES["jobs"].batch_size, name="run_jobs")
def run_jobs(event: Any) -> PartialItemFailureResponse:
    return process_batch(event.to_dict(), "jobs", event.context)


@bp.on_sqs_message(queue=QUEUES["media"].name, batch_size=QUEUES["media"].batch_size, name="run_media_jobs")
def run_media_jobs(event: Any) -> PartialItemFailureResponse:
    return process_batch(event.to_dict(), "media", event.context)


@bp.on_sqs_message(queue=QUEUES["jobs"].dlq_name, batch_size=10, name="jobs_dead_letters")
def jobs_dead_letters(event: Any) -> PartialItemFailureResponse:
    return process_dead_letters(event.to_dict(), event.context)


@bp.on_sqs_message(queue=QUEUES["media"].dlq_name, batch_size=10, name="media_dead_letters")
def media_dead_letters(event: Any) -> PartialItemFailureResponse:
    return process_dead_letters(event.to_dict(), event.context)
