"""Faults injected at the AWS client layer (botocore before-call hooks): a clear answer, never lost data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.awsrequest import AWSResponse

from chalicelib.core import observability


@contextmanager
def aws_fault(client, operation: str, code: str, times: int = 10_000, status: int = 400) -> Iterator[list[int]]:
    """Make ``operation`` on ``client`` fail with ``code`` for the next ``times`` calls."""
    hits: list[int] = []

    def hook(**kwargs):
        if len(hits) >= times:
            return None
        hits.append(1)
        return AWSResponse("https://fault.injected", status, {}, None), {"Error": {"Code": code, "Message": f"injected {code}"}}

    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register_first(event, hook, unique_id=f"fault-{operation}")
    try:
        yield hits
    finally:
        client.meta.events.unregister(event, unique_id=f"fault-{operation}")


def _ddb_client(model):
    return model._get_connection().connection.client


def test_dynamodb_throttling_on_a_route_is_503_with_retry_after_and_an_incident(client, tokens, monkeypatch):
    from chalicelib.students.store import Student

    seen = []
    monkeypatch.setattr(observability, "_sinks", [lambda exc, ctx: seen.append(ctx)])
    body = json.dumps({"customer_id": "c1", "name": "Ada"})
    with aws_fault(_ddb_client(Student), "PutItem", "ProvisionedThroughputExceededException") as hits:
        r = client.http.post("/admin/students", headers=tokens.h(tokens.admin), body=body)
    assert hits
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert r.json_body["error"]["code"] == "busy"
    assert seen and seen[0]["http_status"] == 503
    assert client.http.get("/admin/students", headers=tokens.h(tokens.admin)).json_body["items"] == []
    # Once AWS recovers, the same request works.
    assert client.http.post("/admin/students", headers=tokens.h(tokens.admin), body=body).status_code == 201


def test_dynamodb_5xx_on_a_route_is_a_clean_500(client, tokens, monkeypatch):
    from chalicelib.students.store import Student

    monkeypatch.setattr(observability, "_sinks", [])
    s = client.http.post("/admin/students", headers=tokens.h(tokens.admin), body=json.dumps({"customer_id": "c", "name": "A"}))
    with aws_fault(_ddb_client(Student), "GetItem", "InternalServerError", status=500):
        r = client.http.get(f"/admin/students/{s.json_body['id']}", headers=tokens.h(tokens.admin))
    assert r.status_code == 500 and r.json_body["error"]["code"] == "internal_error"
    assert "InternalServerError" not in r.body.decode()


def test_throttled_job_is_retried_and_succeeds(app, monkeypatch):
    """A job whose ledger write is throttled once is redelivered by SQS and finishes; nothing is lost."""
    from academy_cli.pump import drain_once
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings
    from chalicelib.jobs import ledger, worker
    from chalicelib.jobs.dispatch import dispatch

    aws.reset()
    monkeypatch.setattr(worker, "POLICY", worker.Policy(retry_delay_s=lambda n: 0))
    job, _ = dispatch("noop", {"x": 1})
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().queue_name("jobs"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    from chalicelib.core.db import transaction

    tx_client = transaction()._connection.client  # a transition is a transaction (the job and its counters)
    with aws_fault(tx_client, "TransactWriteItems", "ThrottlingException", times=1):
        first = drain_once(sqs, url, arn, app.handler_map["run_jobs"])
    assert first == (1, 1)  # the record was reported back, not dropped
    assert ledger.get(job.job_id).state == "queued"
    second = drain_once(sqs, url, arn, app.handler_map["run_jobs"])
    assert second == (1, 0)
    done = ledger.get(job.job_id)
    assert done.state == "succeeded" and done.result == {"echo": {"x": 1}}
