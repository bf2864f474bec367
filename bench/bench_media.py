"""ProcessVideoProof: the worker's peak memory is flat in the video's size, and the job costs little more than ffmpeg.

Real processes, as in production: emulated S3/SQS/DynamoDB in one process (moto's server), the
worker in another (imports the app, takes the message off the media queue, runs the job through
the job runtime), ffmpeg in its own. Two sources made by ffmpeg here and deleted afterwards: ~10 MB
(H.264 1080p) and ~1 GB (Motion JPEG 1080p, noisy, so it is big per second).

Rows: the worker's peak RSS for 1 GB vs 10 MB (goal ≤ 1.2, and < 150 MB absolute), ffmpeg's own
peak RSS (reported separately: it is a child process), and the end-to-end job time vs ffmpeg alone
doing the same transcode + poster on the same local file (goal ≤ 1.25).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _gen(args: list[str]) -> None:
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=600)


def make_small(work: Path) -> Path:
    """~10 MB: 8 s of 1080p H.264 at ~10 Mbit/s with AAC (what a phone sends for a short clip)."""
    out = work / "small.mp4"
    src = ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=8", "-f", "lavfi", "-i", "sine=duration=8"]
    _gen([*src, "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "10M", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)])
    return out


def make_big(work: Path, target: int = 1024 * MB) -> Path:
    """~1 GB quickly: one noisy 4 s Motion-JPEG segment, concatenated with ``-c copy``."""
    seg = work / "seg.mkv"
    lavfi = "testsrc2=size=1920x1080:rate=25:duration=4,noise=alls=30:allf=t"
    inputs = ["-f", "lavfi", "-i", lavfi, "-f", "lavfi", "-i", "sine=duration=4"]
    _gen([*inputs, "-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p", "-c:a", "pcm_s16le", str(seg)])
    copies = max(1, round(target / seg.stat().st_size))
    listing = work / "list.txt"
    listing.write_text("".join(f"file '{seg}'\n" for _ in range(copies)))
    out = work / "big.mkv"
    _gen(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)])
    seg.unlink()
    return out


def ffmpeg_alone(src: Path, work: Path) -> float:
    """The same transcode + poster the worker runs, on the local file, with nothing around it."""
    sys.path.insert(0, str(ROOT))
    from chalicelib.media import domain

    probe = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(src)], capture_output=True, text=True).stderr
    p = domain.parse_probe(probe)
    out, poster = work / "alone.mp4", work / "alone.jpg"
    started = time.monotonic()
    subprocess.run(domain.transcode_args(_ffmpeg(), str(src), str(out), p), check=True, stdin=subprocess.DEVNULL)
    subprocess.run(domain.poster_args(_ffmpeg(), str(out), str(poster), p.duration_s), check=True, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    out.unlink()
    poster.unlink()
    return elapsed


# --- child processes ---------------------------------------------------------------------------


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-m", "bench.bench_media", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    if r.returncode != 0:
        raise RuntimeError(f"bench child {args[0]} failed: {r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _setup(path: str, content_type: str) -> dict[str, Any]:
    """Deploy the stack into the emulator, upload the source, record the original and queue the job."""
    import boto3
    from boto3.s3.transfer import TransferConfig

    from chalicelib.core.settings import get_settings
    from chalicelib.media import service, store
    from infra.deploy import deploy

    deploy(get_settings().stage)
    src = Path(path)
    ext = src.suffix.lstrip(".")
    video = store.create_video("cust-bench", "student-bench", src.name, content_type, src.stat().st_size, ext)
    boto3.client("s3").upload_file(
        str(src),
        get_settings().bucket_name,
        video.original_key,
        ExtraArgs={"ContentType": content_type},
        Config=TransferConfig(multipart_chunksize=64 * MB, max_concurrency=4),
    )
    head = boto3.client("s3").head_object(Bucket=get_settings().bucket_name, Key=video.original_key)
    store.record_original(video, int(head["ContentLength"]), head["ETag"])
    job, _ = service.queue_optimisation(video, None, "bench")
    return {"video_id": video.id, "job_id": job.job_id}


def _worker() -> dict[str, Any]:
    """What the media Lambda does for one message, measured from inside its own process."""
    import resource

    import boto3

    import app  # noqa: F401 - a Lambda imports the app first
    from academy_cli.pump import FakeLambdaContext, lambda_sqs_event
    from chalicelib.jobs import ledger
    from chalicelib.jobs.queues import QUEUES
    from chalicelib.jobs.worker import process_batch

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUES["media"].name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=5)["Messages"]
    job_id = json.loads(msgs[0]["Body"])["job_id"]
    from chalicelib.media.pipeline import peak_rss_mb

    rss_before = peak_rss_mb()  # VmHWM: ru_maxrss would include this bench's own RSS (Linux carries it over exec)
    started = time.monotonic()
    result = process_batch(lambda_sqs_event(msgs, arn, "us-east-1"), "media", FakeLambdaContext("run_media_jobs", 900, 2048))
    elapsed = time.monotonic() - started
    job = ledger.get(job_id)
    return {
        "job_s": elapsed,
        "state": job.state,
        "error": job.last_error.message if job.last_error else None,
        "failures": result.get("batchItemFailures", []),
        "steps_s": (job.result or {}).get("steps_s"),
        "rss_after_imports_mb": rss_before,
        "worker_peak_rss_mb": peak_rss_mb(),
        "ffmpeg_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _measure(env: dict[str, str], src: Path, content_type: str, work: Path) -> dict[str, Any]:
    _child(env, "setup", str(src), content_type)
    m = _child(env, "worker")
    if m["state"] != "succeeded":
        raise RuntimeError(f"the job did not succeed: {m}")
    m["ffmpeg_alone_s"] = ffmpeg_alone(src, work)
    m["size_mb"] = src.stat().st_size / MB
    print(f"   {src.name}: {m['size_mb']:.0f} MB, {json.dumps({k: v for k, v in m.items() if k != 'failures'})}", flush=True)
    return m


def run() -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    port = _free_port()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ACADEMY_STAGE": "bench",
        "ACADEMY_BUCKET": "academy-bench-media-123456789012",
        "ACADEMY_TMP_DIR": str(work),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    env.pop("AWS_PROFILE", None)
    moto = Path(sys.executable).with_name("moto_server")
    server = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        small_src = make_small(work)
        small = _measure(env, small_src, "video/mp4", work)
        small_src.unlink()
        big_src = make_big(work)
        big = _measure(env, big_src, "video/x-matroska", work)
        big_src.unlink()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    rss_ratio = big["worker_peak_rss_mb"] / small["worker_peak_rss_mb"]
    return [
        {
            "name": f"worker peak RSS, {big['size_mb']:.0f} MB source vs {small['size_mb']:.0f} MB",
            "value": big["worker_peak_rss_mb"],
            "unit": "MB",
            "baseline": small["worker_peak_rss_mb"],
            "ratio": rss_ratio,
            "goal": 1.2,
        },
        {
            "name": f"worker peak RSS ({big['size_mb']:.0f} MB source) vs 150 MB cap",
            "value": big["worker_peak_rss_mb"],
            "unit": "MB",
            "baseline": 150.0,
            "ratio": big["worker_peak_rss_mb"] / 150.0,
            "goal": 1.0,
        },
        {
            "name": f"ffmpeg peak RSS (child), {big['size_mb']:.0f} MB / {small['size_mb']:.0f} MB source",
            "value": big["ffmpeg_peak_rss_mb"],
            "unit": "MB",
            "baseline": small["ffmpeg_peak_rss_mb"],
            "ratio": big["ffmpeg_peak_rss_mb"] / small["ffmpeg_peak_rss_mb"],
            "goal": None,
        },
        *(
            {
                "name": f"job end to end vs ffmpeg alone, {m['size_mb']:.0f} MB source",
                "value": m["job_s"],
                "unit": "s",
                "baseline": m["ffmpeg_alone_s"],
                "ratio": m["job_s"] / m["ffmpeg_alone_s"],
                "goal": 1.25,
            }
            for m in (small, big)
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        print(json.dumps(_setup(sys.argv[2], sys.argv[3])))
    elif sys.argv[1] == "worker":
        print(json.dumps(_worker()))
