"""Helpers for the media tests: real clips made by ffmpeg (never committed), uploads, running the media queue."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import requests


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: Path, width: int, height: int, seconds: float, rate: int = 15, audio: bool = True) -> Path:
    """A real H.264/AAC MP4 from lavfi testsrc + sine (ultrafast, for speed)."""
    args = [
        ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={width}x{height}:rate={rate}:duration={seconds}",
    ]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-b:a", "64k"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    subprocess.run(args, check=True, timeout=120)
    return path


def post(client: Any, path: str, token: str, body: Any = None) -> Any:
    return client.http.post(
        path,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=body if isinstance(body, str | bytes) else json.dumps(body or {}),
    )


def get(client: Any, path: str, token: str) -> Any:
    return client.http.get(path, headers={"Authorization": f"Bearer {token}"})


def upload_form(upload: dict[str, Any], data: bytes, filename: str = "file") -> int:
    """POST the file to the presigned form like a browser (moto intercepts; it does not enforce the policy)."""
    r = requests.post(upload["url"], data=upload["fields"], files={"file": (filename, data)}, timeout=30)
    return r.status_code


def upload_file_to(key: str, path: Path, content_type: str) -> None:
    from chalicelib.core.settings import get_settings

    boto3.client("s3").upload_file(str(path), get_settings().bucket_name, key, ExtraArgs={"ContentType": content_type})


def run_media_queue(max_batches: int = 5) -> list[dict[str, Any]]:
    """Deliver the media queue's messages to its handler like Lambda's event source mapping would."""
    from academy_cli.pump import FakeLambdaContext, lambda_sqs_event
    from chalicelib.jobs.queues import QUEUES
    from chalicelib.jobs.worker import process_batch

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUES["media"].name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    results = []
    for _ in range(max_batches):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get("Messages", [])
        if not msgs:
            break
        event = lambda_sqs_event(msgs, arn, "us-east-1")
        result = process_batch(event, "media", FakeLambdaContext("run_media_jobs", timeout_s=900))
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for m in msgs:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            else:  # like SQS after the back-off: visible again for the next delivery
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        results.append(result)
    return results


def mp4_box(name: bytes, payload: bytes = b"") -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + name + payload


def mvhd(duration_s: float, timescale: int = 1000, version: int = 0) -> bytes:
    """A movie header box stating ``duration_s`` (the fields after duration are irrelevant here)."""
    if version == 1:
        body = b"\x01\x00\x00\x00" + bytes(16) + timescale.to_bytes(4, "big") + int(duration_s * timescale).to_bytes(8, "big")
    else:
        body = bytes(4) + bytes(8) + timescale.to_bytes(4, "big") + int(duration_s * timescale).to_bytes(4, "big")
    return mp4_box(b"mvhd", body + bytes(80))


def fake_mp4(duration_s: float = 1.0, media_bytes: int = 100) -> bytes:
    """A well-formed MP4 box structure (ftyp, moov with mvhd, mdat) around no real media: it passes the
    upload checks, and ffmpeg in the worker fails it."""
    return (
        mp4_box(b"ftyp", b"mp42" + bytes(4) + b"isommp42")
        + mp4_box(b"moov", mvhd(duration_s))
        + mp4_box(b"mdat", bytes(media_bytes))
    )
