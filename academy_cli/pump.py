"""Hand SQS messages to the app's SQS handlers the way Lambda's event source mapping does.

Receives a batch (long poll), builds a Lambda-shaped SQS event, calls the handler and deletes only
the records it did not report in ``batchItemFailures``. Visibility timeouts, receive counts and
dead-letter redrive stay SQS's own (moto's locally, AWS's in the cloud).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class FakeLambdaContext:
    """What a Lambda context offers that our handlers read."""

    function_name: str
    timeout_s: int
    memory_limit_in_mb: int = 1024
    aws_request_id: str = ""
    invoked_function_arn: str = ""

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = (
            self.invoked_function_arn or f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()},
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def drain_once(
    sqs: Any,
    queue_url: str,
    queue_arn: str,
    handler: Callable[[dict[str, Any], Any], Any],
    *,
    batch_size: int = 10,
    wait_s: int = 0,
    timeout_s: int = 60,
    function_name: str = "local",
    region: str = "us-east-1",
) -> tuple[int, int]:
    """One receive → invoke → delete cycle. Returns (received, failed)."""
    resp = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max(1, min(10, batch_size)),
        WaitTimeSeconds=wait_s,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    messages = resp.get("Messages", [])
    if not messages:
        return 0, 0
    event = lambda_sqs_event(messages, queue_arn, region)
    ctx = FakeLambdaContext(function_name=function_name, timeout_s=timeout_s)
    try:
        result = handler(event, ctx)
        failed_ids = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
    except Exception:  # noqa: BLE001 - like Lambda: an invocation error returns the whole batch
        failed_ids = {m["MessageId"] for m in messages}
    done = [m for m in messages if m["MessageId"] not in failed_ids]
    for i in range(0, len(done), 10):
        chunk = done[i : i + 10]
        sqs.delete_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)]
        )
    return len(messages), len(failed_ids)
