"""Both dead-letter functions as deployed, and a media job's retry removing its dead letter.

A known job's letter fails the job; an unreadable letter becomes an orphan failed job; retrying the
failed media job deletes its letter from the media dead-letter queue and leaves the others visible.
"""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib.jobs.queues import QUEUES


def _letter(sqs, queue: str, body: str) -> dict:
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body)
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"])["Messages"]
    return next(m for m in msgs if m["Body"] == body)


def _event(msg: dict, queue: str) -> dict:
    from academy_cli.pump import lambda_sqs_event

    return lambda_sqs_event([msg], f"arn:aws:sqs:us-east-1:123456789012:{queue}", "us-east-1")


@pytest.mark.parametrize("queue_key", ["jobs", "media"])
def test_an_unreadable_dead_letter_is_recorded_as_a_failed_job(client, tokens, queue_key):
    sqs = boto3.client("sqs")
    dlq = QUEUES[queue_key].dlq_name
    msg = _letter(sqs, dlq, "not json {")
    result = client.lambda_.invoke(f"{queue_key}_dead_letters", _event(msg, dlq)).payload
    assert result == {"batchItemFailures": []}
    failed = client.http.get("/admin/jobs?state=failed&type=unknown", headers=tokens.h(tokens.admin)).json_body["items"]
    assert len(failed) >= 1 and all(j["state"] == "failed" for j in failed)


def test_a_media_jobs_dead_letter_fails_it_and_its_retry_removes_only_that_letter(client, tokens):
    from chalicelib.jobs.dispatch import dispatch

    sqs = boto3.client("sqs")
    job, _ = dispatch("process_video_proof", {"video_id": "01JZZZZZZZZZZZZZZZZZZZZZZZ"})
    queue_url = sqs.get_queue_url(QueueName=QUEUES["media"].name)["QueueUrl"]
    (sent,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1)["Messages"]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=sent["ReceiptHandle"])  # as SQS's redrive moves it
    dlq = QUEUES["media"].dlq_name
    other = json.dumps({"job_id": "01JYYYYYYYYYYYYYYYYYYYYYYY"})
    _letter(sqs, dlq, other)  # another job's letter stays
    letter = _letter(sqs, dlq, sent["Body"])

    assert client.lambda_.invoke("media_dead_letters", _event(letter, dlq)).payload == {"batchItemFailures": []}
    detail = client.http.get(f"/admin/jobs/{job.job_id}", headers=tokens.h(tokens.admin)).json_body
    assert detail["state"] == "failed" and "gave up" in detail["last_error"]["message"]

    r = client.http.post(f"/admin/jobs/{job.job_id}/retry", headers=tokens.h(tokens.admin), body=b"{}")
    assert r.status_code == 202, r.body
    assert r.json_body["dead_letters_removed"] == 1
    dlq_url = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
    left = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == [other]
