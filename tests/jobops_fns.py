"""Job functions for the Jobs-operations tests: their behaviour is controlled by the test (and by S3)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from chalicelib.core import aws
from chalicelib.core.settings import get_settings
from chalicelib.jobs.errors import PermanentJobError

calls: Counter[str] = Counter()
_lock = threading.Lock()


def needs_object(job: Any, ctx: Any) -> dict[str, Any]:
    """Reads ``payload.key`` from the media bucket: fails (transiently) until the object exists."""
    key = job.payload["key"]
    with _lock:
        calls[key] += 1
    s3 = aws.client("s3")
    try:
        head = s3.head_object(Bucket=get_settings().bucket_name, Key=key)
    except s3.exceptions.ClientError as exc:
        raise FileNotFoundError(f"missing object s3://{get_settings().bucket_name}/{key}") from exc
    return {"key": key, "size": head["ContentLength"]}


def rejects(job: Any, ctx: Any) -> None:
    """Always fails permanently (one attempt, no dead letter), with the payload's message."""
    with _lock:
        calls[job.payload["key"]] += 1
    raise PermanentJobError(job.payload.get("message", "rejected"))


def reset() -> None:
    calls.clear()
