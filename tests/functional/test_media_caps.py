"""Cost caps on video: probe before a worker is reserved, and a video too long for the worker fails once, clearly."""

from __future__ import annotations

import dataclasses
import subprocess

import boto3
import pytest

from chalicelib.core.settings import get_settings
from chalicelib.jobs import ledger
from chalicelib.media import pipeline, precheck
from tests.media_support import fake_mp4, get, make_clip, post, run_media_queue, upload_form


@pytest.fixture
def student(client, tokens):
    return post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]


def _media_depth() -> int:
    from chalicelib.jobs.queues import QUEUES

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUES["media"].name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _upload(client, tokens, student, data: bytes, content_type="video/mp4", filename="proof.mp4"):
    body = {"student_id": student, "filename": filename, "content_type": content_type, "size_bytes": len(data)}
    r = post(client, "/customer/videos", tokens.customer_a, body)
    assert r.status_code == 201, r.body
    assert upload_form(r.json_body["upload"], data) in (200, 201, 204)
    return r.json_body["video"]["id"], r.json_body["upload"]["fields"]["key"]


def _exists(key: str) -> bool:
    listed = boto3.client("s3").list_objects_v2(Bucket=get_settings().bucket_name, Prefix=key)
    return bool(listed.get("Contents"))


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100,  # passes the type sniff, nothing behind it
        b"\x00\x00\x00\x18ftypmp42" + bytes(12) + (10**9).to_bytes(4, "big") + b"mdat" + bytes(64),  # claims 1 GB
    ],
)
def test_a_tiny_ftyp_file_never_reaches_the_worker(client, tokens, student, data):
    video_id, key = _upload(client, tokens, student, data)
    r = post(client, f"/customer/videos/{video_id}/complete", tokens.customer_a)
    assert r.status_code == 400 and r.json_body["error"]["code"] == "not_a_video"
    assert "discarded" in r.json_body["error"]["message"]
    assert not _exists(key)  # the customer uploads again
    assert _media_depth() == 0 and ledger.latest_for_entity("video", video_id) is None
    v = get(client, f"/customer/videos/{video_id}", tokens.customer_a).json_body
    assert v["status"] == "awaiting_upload" and v["variant_count"] == 0


def test_a_fake_webm_never_reaches_the_worker(client, tokens, student):
    video_id, key = _upload(client, tokens, student, b"\x1a\x45\xdf\xa3" + bytes(60), "video/webm", "proof.webm")
    r = post(client, f"/customer/videos/{video_id}/complete", tokens.customer_a)
    assert r.status_code == 400 and r.json_body["error"]["code"] == "not_a_video"
    assert not _exists(key) and _media_depth() == 0


def test_a_video_longer_than_the_worker_can_transcode_is_refused_at_complete(client, tokens, student):
    video_id, key = _upload(client, tokens, student, fake_mp4(duration_s=3 * 3600))
    r = post(client, f"/customer/videos/{video_id}/complete", tokens.customer_a)
    assert r.status_code == 400
    err = r.json_body["error"]
    assert err["code"] == "video_too_long" and err["details"] == {"duration_s": 10800, "max_duration_s": 1200}
    assert "10800 s long" in err["message"] and "shorter video" in err["message"]
    assert not _exists(key) and _media_depth() == 0


def test_a_well_formed_upload_is_queued(client, tokens, student):
    video_id, _ = _upload(client, tokens, student, fake_mp4(duration_s=30))
    assert post(client, f"/customer/videos/{video_id}/complete", tokens.customer_a).status_code == 202
    assert _media_depth() == 1


@pytest.mark.slow
def test_the_worker_fails_a_too_long_video_permanently_after_its_probe(client, tokens, student, tmp_path, monkeypatch):
    """A container without a duration (or one that lies) is measured by ffmpeg: over the cap, one attempt."""
    clip = make_clip(tmp_path / "c.mp4", 320, 240, seconds=3)
    video_id, _ = _upload(client, tokens, student, clip.read_bytes())
    assert post(client, f"/customer/videos/{video_id}/complete", tokens.customer_a).status_code == 202
    capped = dataclasses.replace(get_settings(), video_max_seconds=2)
    monkeypatch.setattr(pipeline, "TOOLS", dataclasses.replace(pipeline.TOOLS, settings=lambda: capped))
    results = run_media_queue()
    assert len(results) == 1 and results[0]["batchItemFailures"] == []  # deleted, not redelivered
    job = ledger.latest_for_entity("video", video_id)
    assert job.state == "failed" and job.attempts == 1
    assert job.last_error.type == "PermanentJobError" and "3 s long" in job.last_error.message
    assert "at most 2 s" in job.last_error.message


@pytest.mark.slow
def test_a_transcode_that_runs_out_of_time_fails_permanently_not_three_times(client, tokens, student, tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "c.mp4", 320, 240, seconds=2)
    video_id, _ = _upload(client, tokens, student, clip.read_bytes())
    assert post(client, f"/customer/videos/{video_id}/complete", tokens.customer_a).status_code == 202
    real = pipeline.run_ffmpeg

    def slow(args, stderr_path, timeout_s):
        if "-movflags" in args:  # the transcode, not the probes
            raise subprocess.TimeoutExpired(args, timeout_s)
        return real(args, stderr_path, timeout_s)

    monkeypatch.setattr(pipeline, "TOOLS", dataclasses.replace(pipeline.TOOLS, run=slow))
    results = run_media_queue()
    assert len(results) == 1 and results[0]["batchItemFailures"] == []
    job = ledger.latest_for_entity("video", video_id)
    assert job.state == "failed" and job.attempts == 1
    assert "too long to transcode within the worker's time" in job.last_error.message
    assert _media_depth() == 0


def test_the_precheck_reads_little(aws):
    """A 2 GB original is checked with a few ranged reads, never downloaded."""
    calls = []
    data = fake_mp4(duration_s=60, media_bytes=5000)

    def read(offset, length):
        calls.append(length)
        return data[offset : offset + length]

    assert precheck.check_video_upload("k", "video/mp4", len(data), read=read) == 60
    assert len(calls) <= 4 and sum(calls) <= 4096 + 48
