"""The event source mapping's poller against moto server's SQS: batch size, partial batch responses,
a failed invocation keeping the whole batch, and the redrive policy taking over."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from academy_cli.rehearse.functions import FunctionError
from academy_cli.rehearse.sqs import Poller
from academy_cli.rehearse.stack import Mapping


class _Fn:
    def __init__(self, behave: Any) -> None:
        self.behave = behave
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Any:
        self.events.append(event)
        return self.behave(event)


@pytest.fixture
def sqs() -> Iterator[Any]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10).raise_for_status()  # moto's state is per process
    try:
        yield boto3.client(
            "sqs", endpoint_url=f"http://{host}:{port}", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
    finally:
        server.stop()


def _queue(sqs: Any, max_receives: int = 2) -> tuple[str, str, str]:
    dlq = sqs.create_queue(QueueName="q-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "0", "RedrivePolicy": redrive})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq


def _poller(sqs: Any, arn: str, fn: _Fn, batch: int = 10, report: bool = True) -> Poller:
    mapping = Mapping("uuid", "fn", arn, batch, 0, report, True)
    poller = Poller(mapping, fn, sqs, None, "us-east-1", threading.Event(), lambda line: None)  # type: ignore[arg-type]
    poller._checked = float("inf")  # no Lambda API here: the mapping stays enabled
    return poller


def _depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    return sum(int(v) for v in attrs["Attributes"].values())


def test_partial_batch_response_deletes_only_the_records_that_succeeded(sqs: Any) -> None:
    url, arn, _ = _queue(sqs)
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i}))
    fn = _Fn(
        lambda e: {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in e["Records"] if json.loads(r["body"])["n"] == 1]
        }
    )
    poller = _poller(sqs, arn, fn, batch=10)
    assert poller.once() == 3
    record = fn.events[0]["Records"][0]
    assert (
        record["eventSource"] == "aws:sqs"
        and record["eventSourceARN"] == arn
        and record["attributes"]["ApproximateReceiveCount"] == "1"
    )
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["n"] for m in left] == [1]


def test_batch_size_and_a_failed_invocation_keeps_the_batch_until_the_dlq(sqs: Any) -> None:
    url, arn, dlq = _queue(sqs, max_receives=2)
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))

    def fail(event: dict[str, Any]) -> Any:
        raise FunctionError({"errorType": "ValueError", "errorMessage": "poison"})

    fn = _Fn(fail)
    poller = _poller(sqs, arn, fn, batch=2)
    assert 1 <= poller.once() <= 2  # BatchSize 2 (SQS may return fewer)
    for _ in range(30):
        if _depth(sqs, url) == 0:
            break
        poller.once()
    assert all(1 <= len(e["Records"]) <= 2 for e in fn.events)
    assert _depth(sqs, url) == 0 and _depth(sqs, dlq) == 3  # each received maxReceiveCount times, then redriven


def test_without_report_batch_item_failures_a_success_deletes_the_whole_batch(sqs: Any) -> None:
    url, arn, _ = _queue(sqs)
    for i in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    fn = _Fn(lambda e: {"batchItemFailures": [{"itemIdentifier": e["Records"][0]["messageId"]}]})
    assert _poller(sqs, arn, fn, report=False).once() == 2
    assert _depth(sqs, url) == 0  # the response is ignored without FunctionResponseTypes
