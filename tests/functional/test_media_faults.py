"""Faults around media: S3 throttling and 5xx, ffmpeg dying or failing, a worker killed between steps.

Each ends in a retry that succeeds or a clear failure in the job ledger plus an incident, never lost
data, a half-recorded video or a job stuck in ``running``.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from tests.functional.test_fault_injection import aws_fault
from tests.functional.test_media_uploads import PDF, start_homework
from tests.functional.test_media_worker import clips, student, submit, tmp_entries  # noqa: F401 - fixtures
from tests.media_support import ffmpeg, get, post, run_media_queue, upload_form

pytestmark = pytest.mark.slow


def _incidents(client, tokens, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"source": "backend", **filters}.items())
    return get(client, f"/admin/incidents?{query}", tokens.admin).json_body["items"]


def _s3():
    from chalicelib.core import aws

    return aws.client("s3")


def _bucket_keys() -> list[str]:
    from chalicelib.core.settings import get_settings

    listed = boto3.client("s3").list_objects_v2(Bucket=get_settings().bucket_name)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _open_multipart_uploads() -> list:
    from chalicelib.core.settings import get_settings

    return boto3.client("s3").list_multipart_uploads(Bucket=get_settings().bucket_name).get("Uploads", [])


def _fake_ffmpeg(tmp_path: Path, on_transcode: str) -> str:
    """The real ffmpeg, except that its transcode step runs ``on_transcode`` (shell) first, e.g. a crash."""
    script = tmp_path / "ffmpeg"
    script.write_text(f'#!/bin/sh\ncase "$*" in *libx264*)\n  {on_transcode}\nesac\nexec "{ffmpeg()}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_s3_slowdown_on_a_route_is_503_with_retry_after_an_incident_and_nothing_lost(client, tokens, student):  # noqa: F811
    r = start_homework(client, tokens, student)
    hw, upload = r.json_body["homework"], r.json_body["upload"]
    assert upload_form(upload, PDF) in (200, 204)
    with aws_fault(_s3(), "HeadObject", "SlowDown", status=503) as hits:
        busy = post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a)
    assert hits and busy.status_code == 503 and busy.headers["Retry-After"] == "2"
    assert busy.json_body["error"]["code"] == "busy"
    assert get(client, "/customer/homework", tokens.customer_a).json_body["items"][0]["status"] == "awaiting_upload"
    incident = _incidents(client, tokens)[0]
    assert incident["http_status"] == 503 and incident["area"] == "backend.route.POST /customer/homework/{homework_id}/complete"
    assert incident["latest"]["backend_error"]["message"].endswith("HeadObject operation: injected SlowDown")
    assert incident["latest"]["entities"] == [{"type": "homework", "id": hw["id"]}]
    assert incident["latest"]["actor"] == {"role": "customer", "id": "cust-a"}
    # S3 recovers: the same click completes the upload (the object was never lost).
    done = post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a)
    assert done.status_code == 200 and done.json_body["status"] == "uploaded"


def test_s3_5xx_while_downloading_the_original_is_retried_and_succeeds(client, tokens, student, clips):  # noqa: F811
    from chalicelib.jobs import ledger
    from chalicelib.media import store

    video_id = submit(client, tokens, student, clips["360p"])
    with aws_fault(_s3(), "GetObject", "InternalError", status=500) as hits:
        first = run_media_queue(max_batches=1)
    assert hits and len(first[0]["batchItemFailures"]) == 1  # handed back to SQS, not dropped
    job = ledger.latest_for_entity("video", video_id)
    assert job.state == "queued" and job.attempts == 1 and "InternalError" in job.last_error.message
    assert store.get_video(video_id).variant_count == 1 and tmp_entries() == []

    second = run_media_queue(max_batches=1)
    assert second[0]["batchItemFailures"] == []
    job = ledger.get(job.job_id)
    assert job.state == "succeeded" and job.attempts == 2
    assert store.get_video(video_id).variant_count == 2


def test_ffmpeg_killed_by_a_signal_is_retried_and_succeeds(client, tokens, student, clips, tmp_path, monkeypatch):  # noqa: F811
    from chalicelib.jobs import ledger
    from chalicelib.media import pipeline, store

    marker = tmp_path / "killed-once"
    fake = _fake_ffmpeg(tmp_path, f'if [ ! -e "{marker}" ]; then touch "{marker}"; kill -9 $$; fi')
    monkeypatch.setattr(pipeline, "TOOLS", dataclasses.replace(pipeline.TOOLS, ffmpeg=lambda: fake))
    video_id = submit(client, tokens, student, clips["360p"])

    first = run_media_queue(max_batches=1)
    assert marker.exists() and len(first[0]["batchItemFailures"]) == 1
    job = ledger.latest_for_entity("video", video_id)
    assert job.state == "queued" and "killed by signal 9" in job.last_error.message
    assert store.get_video(video_id).variant_count == 1 and tmp_entries() == []

    second = run_media_queue(max_batches=1)
    assert second[0]["batchItemFailures"] == []
    assert ledger.get(job.job_id).state == "succeeded"
    assert store.get_video(video_id).variant_count == 2


def test_ffmpeg_exiting_non_zero_fails_the_job_clearly_with_an_incident(client, tokens, student, clips, tmp_path, monkeypatch):  # noqa: F811
    from chalicelib.jobs import ledger
    from chalicelib.media import pipeline, store

    fake = _fake_ffmpeg(tmp_path, 'echo "Conversion failed: injected encoder error" >&2; exit 1')
    monkeypatch.setattr(pipeline, "TOOLS", dataclasses.replace(pipeline.TOOLS, ffmpeg=lambda: fake))
    video_id = submit(client, tokens, student, clips["360p"])

    results = run_media_queue(max_batches=1)
    assert results[0]["batchItemFailures"] == []  # permanent: no retry storm
    job = ledger.latest_for_entity("video", video_id)
    assert job.state == "failed" and job.attempts == 1
    assert job.last_error.type == "PermanentJobError"
    assert "exit 1" in job.last_error.message and "injected encoder error" in job.last_error.message
    video = store.get_video(video_id)
    assert video.variant_count == 1 and video.poster_key is None  # still optimisable: an admin can re-run it
    assert tmp_entries() == [] and _open_multipart_uploads() == []
    assert not any(k.endswith("720p.mp4") for k in _bucket_keys())
    incident = _incidents(client, tokens)[0]
    assert incident["area"] == "backend.job.process_video_proof"
    assert incident["latest"]["backend_error"]["type"] == "PermanentJobError"
    assert "injected encoder error" in incident["latest"]["backend_error"]["message"]
    assert incident["latest"]["entities"] == [{"type": "video", "id": video_id}]
    assert incident["latest"]["location"] == f"job:process_video_proof:{job.job_id}"


class Killed(BaseException):
    """The process dies here: no except clause, no finally in our code gets to report anything."""


def test_worker_killed_between_upload_and_record_is_taken_over_and_finishes_once(client, tokens, student, clips, monkeypatch):  # noqa: F811
    from academy_cli.pump import FakeLambdaContext, lambda_sqs_event
    from chalicelib.jobs import ledger, states
    from chalicelib.jobs.queues import QUEUES
    from chalicelib.jobs.worker import process_batch
    from chalicelib.media import store

    video_id = submit(client, tokens, student, clips["360p"])
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUES["media"].name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])["Messages"]

    real_record = store.record_optimised

    def die(*args, **kwargs):  # the 720p file and poster are in S3; the video row does not know yet
        raise Killed()

    monkeypatch.setattr(store, "record_optimised", die)
    with pytest.raises(Killed):
        process_batch(lambda_sqs_event(msgs, arn, "us-east-1"), "media", FakeLambdaContext("run_media_jobs", timeout_s=900))
    monkeypatch.setattr(store, "record_optimised", real_record)

    job = ledger.latest_for_entity("video", video_id)
    assert job.state == states.RUNNING and store.get_video(video_id).variant_count == 1  # what a dead worker leaves
    # Time passes: the dead worker's heartbeat goes stale and SQS's visibility timeout lets the message go.
    job.update(actions=[ledger.Job.heartbeat_at.set(job.heartbeat_at - timedelta(minutes=30))])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"], VisibilityTimeout=0)

    results = run_media_queue(max_batches=2)
    assert results and results[0]["batchItemFailures"] == []
    job = ledger.get(job.job_id)
    assert job.state == states.SUCCEEDED and job.attempts == 2
    video = store.get_video(video_id)
    assert video.variant_count == 2 and [v.name for v in video.variants].count("720p") == 1
    keys = _bucket_keys()
    assert sum(k.endswith("720p.mp4") for k in keys) == 1 and sum(k.endswith("poster.jpg") for k in keys) == 1
    assert _open_multipart_uploads() == []
    # A late message for the same job changes nothing.
    sqs.send_message(QueueUrl=url, MessageBody=msgs[0]["Body"])
    run_media_queue(max_batches=1)
    assert store.get_video(video_id).variant_count == 2 and ledger.get(job.job_id).attempts == 2
    assert os.environ.get("ACADEMY_FFMPEG", "") == ""  # the real ffmpeg did the work
