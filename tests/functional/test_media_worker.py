"""ProcessVideoProof with real ffmpeg: 720p, faststart, poster, never upscaled, permanent vs retried failures, clean /tmp."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import boto3
import pytest

from tests.media_support import ffmpeg, get, make_clip, post, run_media_queue, upload_file_to

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {
        "1080p": make_clip(d / "c1080.mp4", 1920, 1080, seconds=10, rate=10),
        "360p": make_clip(d / "c360.mp4", 640, 360, seconds=2),
        "portrait": make_clip(d / "portrait.mp4", 360, 640, seconds=2, audio=False),
    }


@pytest.fixture
def student(client, tokens):
    return post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]


def tmp_entries() -> list[str]:
    from chalicelib.core.settings import get_settings

    return [p for p in os.listdir(get_settings().tmp_dir) if p.startswith("academy-media-")]


def submit(client, tokens, student, path: Path, filename="proof.mp4", content_type="video/mp4") -> str:
    """Customer starts the upload, the file lands in S3, complete records the original and queues the job."""
    body = {"student_id": student, "filename": filename, "content_type": content_type, "size_bytes": path.stat().st_size}
    r = post(client, "/customer/videos", tokens.customer_a, body)
    assert r.status_code == 201, r.body
    video = r.json_body["video"]
    upload_file_to(r.json_body["upload"]["fields"]["key"], path, content_type)
    r = post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)
    assert r.status_code == 202, r.body
    return video["id"]


def download(key: str, dest: Path) -> Path:
    from chalicelib.core.settings import get_settings

    boto3.client("s3").download_file(get_settings().bucket_name, key, str(dest))
    return dest


def test_1080p_clip_becomes_a_playable_faststart_720p_with_poster(client, tokens, student, clips, tmp_path):
    from chalicelib.media import domain

    video_id = submit(client, tokens, student, clips["1080p"])
    results = run_media_queue()
    assert results and not results[0]["batchItemFailures"]
    v = get(client, f"/admin/media/{video_id}", tokens.admin).json_body
    assert v["variant_count"] == 2 and v["optimisable"] is False
    assert v["job"]["state"] == "succeeded" and v["poster_url"]
    original, small = v["variants"]
    assert (original["name"], original["width"], original["height"]) == ("original", 1920, 1080)
    assert small["name"] == "720p" and (small["width"], small["height"]) == (1280, 720)
    assert abs(small["duration_s"] - 10) < 0.5 and small["key"].endswith("/720p.mp4")

    out = download(small["key"], tmp_path / "out.mp4")
    assert out.stat().st_size == small["size_bytes"]
    with out.open("rb") as f:
        boxes = domain.top_level_boxes(f)
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # +faststart
    probe = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "Video: h264" in probe and "Audio: aac" in probe and "yuv420p" in probe
    decode = subprocess.run([ffmpeg(), "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True, text=True)
    assert decode.returncode == 0 and decode.stderr.strip() == ""  # plays through without errors

    from chalicelib.media import store

    poster = download(store.get_video(video_id).poster_key, tmp_path / "poster.jpg")
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"
    assert tmp_entries() == []

    # Optimised: the admin's button refuses, and a duplicate delivery of a new message does nothing.
    r = post(client, f"/admin/media/{video_id}/optimise", tokens.admin)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "already_optimised"
    from chalicelib.jobs import ledger
    from chalicelib.media.jobs import process_video_proof

    job = ledger.get(v["job"]["job_id"])
    assert process_video_proof(job, None)["skipped"] == "already_optimised"
    assert store.get_video(video_id).variant_count == 2


@pytest.mark.parametrize(("clip", "size"), [("360p", (640, 360)), ("portrait", (360, 640))])
def test_small_sources_are_never_upscaled(client, tokens, student, clips, clip, size):
    video_id = submit(client, tokens, student, clips[clip])
    run_media_queue()
    v = get(client, f"/admin/media/{video_id}", tokens.admin).json_body
    assert v["job"]["state"] == "succeeded", v["job"]
    assert (v["variants"][1]["width"], v["variants"][1]["height"]) == size


def test_a_resumable_upload_is_optimised_from_its_assembled_original(client, tokens, student, clips):
    """A multipart upload completes to ``original-parts.mp4``; the worker reads that key (its role allows it)."""
    import requests

    path = clips["360p"]
    data = path.read_bytes()
    body = {"student_id": student, "filename": "proof.mp4", "content_type": "video/mp4", "size_bytes": len(data)}
    r = post(client, "/customer/videos", tokens.customer_a, {**body, "multipart": True})
    assert r.status_code == 201, r.body
    mp = r.json_body["multipart"]
    for p in mp["parts"]:
        chunk = data[(p["part_number"] - 1) * mp["part_size"] : p["part_number"] * mp["part_size"]]
        assert requests.put(p["url"], data=chunk, timeout=60).status_code == 200
    video_id = r.json_body["video"]["id"]
    assert post(client, f"/customer/videos/{video_id}/complete", tokens.customer_a).status_code == 202
    run_media_queue()
    v = get(client, f"/admin/media/{video_id}", tokens.admin).json_body
    assert v["job"]["state"] == "succeeded", v["job"]
    assert v["variants"][0]["key"].endswith("/original-parts.mp4") and v["variants"][1]["name"] == "720p"


def _queue_unchecked(student: str, data: bytes, tmp_path: Path) -> str:
    """A file that slipped past upload checks (e.g. mp4 header then garbage) recorded and queued directly."""
    from chalicelib.media import service, store

    video = store.create_video("cust-a", student, "proof.mp4", "video/mp4", len(data), "mp4")
    path = tmp_path / "bad.mp4"
    path.write_bytes(data)
    upload_file_to(video.original_key, path, "video/mp4")
    store.record_original(video, len(data), None)
    service.queue_optimisation(video, None, "test")
    return video.id


def test_text_renamed_mp4_fails_permanently_with_a_clear_error_and_clean_tmp(client, tokens, student, tmp_path):
    video_id = _queue_unchecked(student, b"this is not a video, just text renamed to .mp4\n" * 50, tmp_path)
    results = run_media_queue()
    assert len(results) == 1 and results[0]["batchItemFailures"] == []  # no retry storm: deleted, not redelivered
    v = get(client, f"/admin/media/{video_id}", tokens.admin).json_body
    assert v["job"]["state"] == "failed" and v["job"]["attempts"] == 1
    assert v["job"]["last_error"]["type"] == "PermanentJobError"
    assert "not a playable video" in v["job"]["last_error"]["message"]
    assert v["variant_count"] == 1 and v["optimisable"] is True
    assert tmp_entries() == []


def test_upload_failure_midway_leaves_nothing_and_the_job_retries(client, tokens, student, clips, monkeypatch):
    from boto3.s3.transfer import TransferConfig

    from chalicelib.core import aws
    from chalicelib.jobs import ledger
    from chalicelib.media import pipeline, store

    # Force multipart for the small test output and break the first UploadPart of the 720p file.
    small_parts = TransferConfig(multipart_threshold=8 * 1024, max_concurrency=2)
    monkeypatch.setattr(pipeline, "TOOLS", dataclasses.replace(pipeline.TOOLS, upload=small_parts))
    calls = {"parts": 0}

    def fail_part(params, **kwargs):
        calls["parts"] += 1
        raise ConnectionError("network dropped mid-upload")

    s3 = aws.client("s3")
    s3.meta.events.register("before-call.s3.UploadPart", fail_part, unique_id="test-fail-part")
    video_id = submit(client, tokens, student, clips["360p"])
    try:
        results = run_media_queue(max_batches=1)
    finally:
        s3.meta.events.unregister("before-call.s3.UploadPart", unique_id="test-fail-part")
    assert calls["parts"] >= 1
    assert len(results[0]["batchItemFailures"]) == 1  # reported to SQS: redelivered
    video = store.get_video(video_id)
    assert video.variant_count == 1 and video.poster_key is None
    job = ledger.latest_for_entity("video", video_id)
    assert job.state == "queued" and job.attempts == 1 and "network dropped" in job.last_error.message
    assert tmp_entries() == []
    bucket = boto3.client("s3")
    from chalicelib.core.settings import get_settings

    assert bucket.list_multipart_uploads(Bucket=get_settings().bucket_name).get("Uploads", []) == []

    results = run_media_queue(max_batches=1)  # the retry succeeds
    assert results[0]["batchItemFailures"] == []
    job = ledger.get(job.job_id)
    assert job.state == "succeeded" and job.attempts == 2
    assert store.get_video(video_id).variant_count == 2
    assert tmp_entries() == []


def test_not_enough_tmp_fails_early_and_clearly(client, tokens, student, clips, monkeypatch):
    import shutil
    from collections import namedtuple

    from chalicelib.jobs import ledger
    from chalicelib.media import pipeline

    usage = namedtuple("usage", "total used free")
    full = lambda p: usage(10 * 1024**2, 9 * 1024**2, 1024**2)  # noqa: E731
    monkeypatch.setattr(pipeline, "TOOLS", dataclasses.replace(pipeline.TOOLS, disk_usage=full))
    video_id = submit(client, tokens, student, clips["360p"])
    run_media_queue(max_batches=1)
    job = ledger.latest_for_entity("video", video_id)
    assert job.state == "failed" and "/tmp has 1 MB free" in job.last_error.message
    assert "raise EphemeralStorage" in job.last_error.message
    assert shutil.disk_usage  # the real one is untouched outside pipeline
    assert tmp_entries() == []


def test_too_little_time_left_is_a_retry_not_a_hang(client, tokens, student, clips, monkeypatch):
    from chalicelib.jobs import ledger
    from chalicelib.jobs.worker import JobContext

    monkeypatch.setattr(JobContext, "remaining_ms", lambda self: 15_000)
    video_id = submit(client, tokens, student, clips["360p"])
    results = run_media_queue(max_batches=1)
    assert len(results[0]["batchItemFailures"]) == 1
    job = ledger.latest_for_entity("video", video_id)
    assert job.state == "queued" and "left in this invocation" in job.last_error.message
    assert tmp_entries() == []
