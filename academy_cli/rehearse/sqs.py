"""The deployed SQS event source mappings, driving their functions as Lambda's pollers do.

Per mapping: long-poll the queue, gather up to ``BatchSize`` messages for at most
``MaximumBatchingWindowInSeconds``, invoke the function with the SQS event (payload as Lambda sends
it), then delete what succeeded: with ``ReportBatchItemFailures`` every record not named in
``batchItemFailures`` (an unparsable response or an unknown id fails the whole batch, as on AWS);
without it, the whole batch, or nothing when the invocation failed. Failed messages stay in the
queue: they come back after the queue's own visibility timeout and, past the redrive policy's
``maxReceiveCount``, moto moves them to the dead-letter queue: the semantics are SQS's. A mapping
disabled with ``UpdateEventSourceMapping(Enabled=False)`` stops polling within a few seconds.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from academy_cli.rehearse.functions import Function, FunctionError
from academy_cli.rehearse.stack import Mapping

POLL_WAIT_S = 1
STATE_CHECK_S = 2.0  # how often a poller re-reads its mapping's state (Enabled/Disabled)
log = logging.getLogger("academy.rehearse")


def lambda_record(m: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {k: str(v) for k, v in m.get("Attributes", {}).items()}
    message_attributes = {
        name: {
            "stringValue": a.get("StringValue"),
            "binaryValue": a.get("BinaryValue"),
            "stringListValues": a.get("StringListValues", []),
            "binaryListValues": a.get("BinaryListValues", []),
            "dataType": a.get("DataType"),
        }
        for name, a in m.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_ids(result: Any, batch_ids: set[str]) -> set[str]:
    """Records to keep after a successful invocation with ReportBatchItemFailures (AWS's rules)."""
    if result is None or result == {}:
        return set()
    if not isinstance(result, dict) or not isinstance(result.get("batchItemFailures", []), list):
        return set(batch_ids)  # unparsable: the whole batch failed
    ids = set()
    for item in result.get("batchItemFailures", []):
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in batch_ids:
            return set(batch_ids)  # empty or unknown identifier: the whole batch failed
        ids.add(ident)
    return ids


class Poller:
    """One mapping's poller thread."""

    def __init__(
        self, mapping: Mapping, fn: Function, sqs: Any, lam: Any, region: str, stop: threading.Event, out: Callable[[str], None]
    ) -> None:
        self.mapping = mapping
        self.lam = lam
        self._checked = 0.0
        self.fn = fn
        self.sqs = sqs
        self.region = region
        self.stop_event = stop
        self.out = out
        account, name = mapping.queue_arn.split(":")[4], mapping.queue_arn.split(":")[5]
        self.queue_url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        self.thread = threading.Thread(target=self.run, name=f"sqs-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def enabled(self) -> bool:
        if time.monotonic() - self._checked >= STATE_CHECK_S:
            self._checked = time.monotonic()
            state = self.lam.get_event_source_mapping(UUID=self.mapping.uuid).get("State", "Enabled")
            self.mapping.enabled = state in ("Enabled", "Enabling", "Updating")
        return self.mapping.enabled

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                if not self.enabled():
                    self.stop_event.wait(0.5)
                    continue
                self.once()
            except Exception:  # noqa: BLE001 - a poller outlives a bad poll, as Lambda's does
                if self.stop_event.is_set():
                    return
                log.warning("sqs poller %s: %s", self.mapping.queue_arn, traceback.format_exc(limit=3))
                self.stop_event.wait(1.0)

    def receive(self) -> list[dict[str, Any]]:
        m = self.mapping
        messages: list[dict[str, Any]] = []
        window_ends = None
        while len(messages) < m.batch_size and not self.stop_event.is_set():
            wait = POLL_WAIT_S if not messages else max(0, min(POLL_WAIT_S, int((window_ends or 0) - time.monotonic())))
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(10, m.batch_size - len(messages))),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(got)
            if not messages:
                return []
            if window_ends is None:
                window_ends = time.monotonic() + m.window_s
            if time.monotonic() >= window_ends:  # the batching window is over: invoke with what there is
                break
        return messages

    def once(self) -> int:
        messages = self.receive()
        if not messages:
            return 0
        m = self.mapping
        event = {"Records": [lambda_record(msg, m.queue_arn, self.region) for msg in messages]}
        ids = {msg["MessageId"] for msg in messages}
        try:
            result = self.fn.invoke(event)
            keep = failed_ids(result, ids) if m.report_failures else set()
        except FunctionError:
            keep = ids  # the invocation failed: every message returns after its visibility timeout
        done = [msg for msg in messages if msg["MessageId"] not in keep]
        for i in range(0, len(done), 10):
            chunk = done[i : i + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": x["ReceiptHandle"]} for n, x in enumerate(chunk)],
            )
        return len(messages)
