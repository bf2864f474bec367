"""Job machinery of ``process_video_proof`` (the body is in media/jobs.py): S3 → /tmp → ffmpeg → /tmp → S3,
never through memory.

Steps (after the body re-checked eligibility: a duplicate message for an optimised video does nothing): check the
original (HeadObject) and free /tmp → download with the TransferManager (bounded concurrency) →
probe (``ffmpeg -i``; corrupt or non-video input fails permanently) → check /tmp and time again →
transcode to 720p H.264/AAC with ``+faststart`` (a subprocess with a timeout derived from the time
left) → poster JPEG → multipart upload → record the variant with a conditional write (only after the
uploads succeeded, at most once). The job's temp dir is removed on every path. Each run logs and
emits bytes moved, step durations, ffmpeg's exit status and stderr tail, free /tmp and peak RSS.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.observability import flush_metrics, logger, metrics
from chalicelib.core.settings import MB, Settings, get_settings
from chalicelib.jobs.errors import PermanentJobError, TransientJobError
from chalicelib.media import domain, objects, store

if TYPE_CHECKING:
    from chalicelib.jobs.worker import JobContext

LAYER_FFMPEG = "/opt/bin/ffmpeg"
WORKDIR_PREFIX = "academy-media-"
STALE_WORKDIR_S = 20 * 60  # older than any Lambda invocation: left by a killed one
DISK_MARGIN = 64 * MB
UPLOAD_BYTES_PER_S = 20 * MB  # pessimistic S3 throughput from Lambda, to reserve time for the upload
MIN_FFMPEG_S = 10
STDERR_TAIL = 2000
# TransferManager settings, measured (bench/bench_media.py and a 512 MB round trip): ranged parallel GETs
# cost +27 MB RSS at 4 threads (per-thread buffers and malloc arenas) while one streamed GET stays flat, and
# a single stream is fast enough next to the transcode (~70-90 MB/s from Lambda). Uploads: 2 parts of 16 MB.
DOWNLOAD = TransferConfig(multipart_threshold=64 * 1024 * MB, max_concurrency=1, max_io_queue=16, io_chunksize=256 * 1024)
UPLOAD = TransferConfig(multipart_threshold=16 * MB, multipart_chunksize=16 * MB, max_concurrency=2)


class FfmpegNotFound(RuntimeError):
    pass


@cache
def ffmpeg_path() -> str:
    """settings.ffmpeg_path, else the Lambda layer's /opt/bin/ffmpeg, else imageio-ffmpeg's binary, else PATH."""
    configured = get_settings().ffmpeg_path
    if configured:
        return configured
    if os.access(LAYER_FFMPEG, os.X_OK):
        return LAYER_FFMPEG
    try:
        import imageio_ffmpeg  # type: ignore[import-untyped]  # the package ships no type information

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise FfmpegNotFound("no ffmpeg: set ACADEMY_FFMPEG, attach the ffmpeg layer, or install imageio-ffmpeg")


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries the spawning process's
    RSS into an exec'd child's ``ru_maxrss``, so a worker started by a big parent would report the parent."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def children_peak_rss_mb() -> float:
    """The largest ffmpeg child's ``ru_maxrss`` (at least this worker's RSS when it spawned it; see above)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


class Run:
    """Measurements of one job run; logged and emitted as metrics at the end, whatever the outcome."""

    def __init__(self, job_id: str, video_id: str) -> None:
        self.facts: dict[str, Any] = {"job_id": job_id, "video_id": video_id, "steps_s": {}}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            seconds = round(time.monotonic() - started, 3)
            self.facts["steps_s"][name] = seconds
            metrics.add_metric(name=f"VideoStep_{name}_Seconds", unit="Seconds", value=seconds)
            logger.info("video step done", extra={"step": name, "seconds": seconds, "video_id": self.facts["video_id"]})

    def emit(self, outcome: str) -> None:
        self.facts["outcome"] = outcome
        self.facts["peak_rss_mb"] = round(peak_rss_mb(), 1)
        self.facts["ffmpeg_peak_rss_mb"] = round(children_peak_rss_mb(), 1)
        for key, unit, name in (
            ("bytes_downloaded", "Bytes", "VideoBytesDownloaded"),
            ("bytes_uploaded", "Bytes", "VideoBytesUploaded"),
            ("tmp_free_bytes", "Bytes", "VideoTmpFreeBytes"),
            ("peak_rss_mb", "Megabytes", "VideoWorkerPeakRss"),
            ("ffmpeg_peak_rss_mb", "Megabytes", "VideoFfmpegPeakRss"),
            ("ffmpeg_exit_status", "Count", "VideoFfmpegExitStatus"),
        ):
            if isinstance(self.facts.get(key), int | float):
                metrics.add_metric(name=name, unit=unit, value=self.facts[key])
        metrics.add_metric(name=f"VideoJob_{outcome}", unit="Count", value=1)
        log = logger.info if outcome in ("optimised", "skipped") else logger.warning
        log("video proof processed", extra={"video": self.facts})
        try:
            flush_metrics()
        except Exception:  # noqa: BLE001 - metrics must never fail the job
            logger.warning("metrics flush failed", exc_info=True)


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - STDERR_TAIL))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def run_ffmpeg(args: list[str], stderr_path: Path, timeout_s: float) -> int:
    """Run ffmpeg with stderr to a file (bounded memory, no pipe deadlock). Killed at the timeout."""
    with stderr_path.open("wb") as err:
        return subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=timeout_s).returncode


class DiskUsage(Protocol):
    """What ``shutil.disk_usage`` answers (the fields read here)."""

    @property
    def total(self) -> int: ...
    @property
    def free(self) -> int: ...


@dataclass(frozen=True)
class Tools:
    """What the pipeline runs on: the ffmpeg binary and its runner, the disk, S3 transfer settings and the
    settings. The job body uses :data:`TOOLS`; a test swaps one (``dataclasses.replace(TOOLS, run=...)``)."""

    ffmpeg: Callable[[], str] = ffmpeg_path
    run: Callable[[list[str], Path, float], int] = run_ffmpeg
    disk_usage: Callable[[Path], DiskUsage] = shutil.disk_usage
    download: TransferConfig = DOWNLOAD
    upload: TransferConfig = UPLOAD
    settings: Callable[[], Settings] = get_settings


TOOLS = Tools()


def probe_file(path: Path, workdir: Path, tools: Tools = TOOLS, timeout_s: float = 60) -> domain.Probe:
    """Duration, display size and streams of a local file (``ffmpeg -i``; exit status 1 is expected)."""
    log = workdir / f"probe-{path.name}.log"
    tools.run(domain.probe_args(tools.ffmpeg(), str(path)), log, timeout_s)
    return domain.parse_probe(log.read_text("utf-8", "replace"))


def sweep_stale_workdirs(tmp_dir: str) -> None:
    """/tmp survives warm Lambda invocations: remove work dirs a killed invocation left behind."""
    cutoff = time.time() - STALE_WORKDIR_S
    for entry in Path(tmp_dir).glob(f"{WORKDIR_PREFIX}*"):
        try:
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                logger.warning("removed stale media work dir", extra={"path": str(entry)})
        except OSError:
            continue


def _need_disk(workdir: Path, need: int, what: str, run: Run, tools: Tools) -> None:
    usage = tools.disk_usage(workdir)
    run.facts["tmp_free_bytes"] = usage.free
    if need <= usage.free:
        return
    msg = f"/tmp has {usage.free // MB} MB free, {what} needs {need // MB} MB"
    if need > usage.total:  # can never fit on this function's /tmp: retrying will not help
        raise PermanentJobError(f"{msg}; the function's /tmp is only {usage.total // MB} MB (raise EphemeralStorage)")
    raise TransientJobError(msg)


def _check_duration(duration_s: float, tools: Tools) -> None:
    """Longer than the service transcodes (``ACADEMY_VIDEO_MAX_SECONDS``): fail now, permanently, not after
    a timed-out transcode retried three times 15 minutes apart."""
    max_s = tools.settings().video_max_seconds
    if duration_s > max_s:
        raise PermanentJobError(domain.max_video_seconds_message(duration_s, max_s))


def _too_long(run: Run, exc: subprocess.TimeoutExpired, tools: Tools) -> PermanentJobError:
    """ffmpeg ran out of the invocation's time. The media queue hands each worker one job and a retry gets the
    same time, so this is permanent, with a message saying why (not a retry storm)."""
    duration = (run.facts.get("source") or {}).get("duration_s")
    length = f"{duration:.0f} s" if isinstance(duration, int | float) else "this"
    return PermanentJobError(
        f"ffmpeg did not finish in {exc.timeout:.0f} s, all the time this worker has: the {length} video is too "
        f"long to transcode within the worker's time. Upload a shorter video (at most {tools.settings().video_max_seconds} s)."
    )


def optimise(video: store.Video, job_id: str, ctx: JobContext, tools: Tools = TOOLS) -> dict[str, Any]:
    """Make the 720p variant and the poster of an optimisable video in a fresh work dir, removed on every path;
    the run's measurements are logged and emitted whatever the outcome."""
    settings = tools.settings()
    run = Run(job_id, video.id)
    sweep_stale_workdirs(settings.tmp_dir)
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{job_id}-", dir=settings.tmp_dir))
    outcome = "failed"
    try:
        result = _process(video, workdir, ctx, run, tools)
        outcome = "optimised" if result.get("recorded") else "skipped"
        return result
    except subprocess.TimeoutExpired as exc:
        outcome = "timed_out"
        raise _too_long(run, exc, tools) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        run.facts["tmp_clean"] = not workdir.exists()
        run.emit(outcome)


def _process(video: store.Video, workdir: Path, ctx: JobContext, run: Run, tools: Tools) -> dict[str, Any]:
    s3 = aws.client("s3")
    bucket = tools.settings().bucket_name
    original = next(v for v in video.variants if v.name == domain.ORIGINAL)
    src = workdir / f"original{Path(original.key).suffix or '.bin'}"
    out, poster = workdir / "720p.mp4", workdir / "poster.jpg"

    with run.step("head"):
        try:
            head = s3.head_object(Bucket=bucket, Key=original.key)
        except ClientError as exc:
            if objects.no_such_key(exc):
                raise PermanentJobError(f"the original {original.key} is missing from the bucket") from exc
            raise
    size = int(head["ContentLength"])
    if video.original_etag and head.get("ETag") != video.original_etag:
        raise PermanentJobError("the original was replaced after its upload was completed; upload it again")
    _need_disk(workdir, size + DISK_MARGIN, f"the {size // MB} MB original", run, tools)
    transfer_s = 2 * size / UPLOAD_BYTES_PER_S + 20 + MIN_FFMPEG_S  # download + upload (≤ input size) + ffmpeg
    if ctx.remaining_ms() / 1000 < transfer_s:
        raise TransientJobError(
            f"only {ctx.remaining_ms() / 1000:.0f} s left in this invocation; moving this video needs ~{transfer_s:.0f} s"
        )

    with run.step("download"):
        s3.download_file(bucket, original.key, str(src), Config=tools.download)
    run.facts["bytes_downloaded"] = src.stat().st_size

    with run.step("probe"):
        try:
            probe = probe_file(src, workdir, tools)
        except domain.NotAVideo as exc:
            raise PermanentJobError(f"not a playable video: {exc}") from exc
    target_w, target_h = domain.target_size(probe.width, probe.height)
    run.facts["source"] = {
        "width": probe.width,
        "height": probe.height,
        "duration_s": probe.duration_s,
        "codec": probe.video_codec,
    }
    run.facts["target"] = {"width": target_w, "height": target_h}
    _check_duration(probe.duration_s, tools)
    expected = domain.expected_output_bytes(probe.duration_s)
    _need_disk(workdir, expected + DISK_MARGIN, f"the expected {expected // MB} MB output", run, tools)

    reserve_s = 20 + expected / UPLOAD_BYTES_PER_S
    budget_s = ctx.remaining_ms() / 1000 - reserve_s
    if budget_s < MIN_FFMPEG_S:
        raise TransientJobError(
            f"only {ctx.remaining_ms() / 1000:.0f} s left in this invocation; {reserve_s:.0f} s are reserved for the upload"
        )
    if ctx.cancelled():
        return {"video_id": video.id, "recorded": False, "skipped": "cancelled"}
    ctx.heartbeat()

    with run.step("transcode"):
        args = domain.transcode_args(tools.ffmpeg(), str(src), str(out), probe)
        rc = tools.run(args, workdir / "transcode.log", budget_s)
    run.facts["ffmpeg_exit_status"] = rc
    run.facts["ffmpeg_stderr_tail"] = _tail(workdir / "transcode.log")
    if rc != 0:
        if rc < 0:  # killed by a signal (out of memory, ...): worth another try
            raise TransientJobError(f"ffmpeg was killed by signal {-rc}: {run.facts['ffmpeg_stderr_tail'][-500:]}")
        raise PermanentJobError(f"ffmpeg could not transcode the video (exit {rc}): {run.facts['ffmpeg_stderr_tail'][-500:]}")
    src.unlink()  # free /tmp for the poster and keep the footprint at most input + output

    with run.step("verify"):
        result_probe = probe_file(out, workdir, tools)
        with out.open("rb") as f:
            boxes = domain.top_level_boxes(f)
    if "moov" not in boxes or ("mdat" in boxes and boxes.index("moov") > boxes.index("mdat")):
        raise PermanentJobError(f"ffmpeg produced an MP4 without the moov atom first: {boxes}")

    with run.step("poster"):
        remaining = max(MIN_FFMPEG_S, ctx.remaining_ms() / 1000 - reserve_s)
        prc = tools.run(
            domain.poster_args(tools.ffmpeg(), str(out), str(poster), result_probe.duration_s), workdir / "poster.log", remaining
        )
    if prc != 0 or not poster.exists():
        raise PermanentJobError(f"ffmpeg could not extract a poster (exit {prc}): {_tail(workdir / 'poster.log')[-500:]}")

    current = store.get_video(video.id)
    if not domain.is_optimisable(int(current.variant_count)):
        return {"video_id": video.id, "recorded": False, "skipped": "already_optimised"}

    prefix = domain.video_prefix(video.customer_id, video.student_id, video.id)
    out_key, poster_key = f"{prefix}720p.mp4", f"{prefix}poster.jpg"
    with run.step("upload"):
        s3.upload_file(str(out), bucket, out_key, ExtraArgs={"ContentType": "video/mp4"}, Config=tools.upload)
        s3.upload_file(str(poster), bucket, poster_key, ExtraArgs={"ContentType": "image/jpeg"}, Config=tools.upload)
    out_size = out.stat().st_size
    run.facts["bytes_uploaded"] = out_size + poster.stat().st_size

    measured_original = store.variant(
        domain.ORIGINAL,
        original.key,
        size,
        original.content_type,
        width=probe.width,
        height=probe.height,
        duration_s=probe.duration_s,
    )
    variant = store.variant(
        domain.OPTIMISED_720P,
        out_key,
        out_size,
        "video/mp4",
        width=result_probe.width,
        height=result_probe.height,
        duration_s=result_probe.duration_s,
    )
    recorded = store.record_optimised(video.id, measured_original, variant, poster_key)
    return {
        "video_id": video.id,
        "recorded": recorded,
        "variant": {
            "name": variant.name,
            "key": out_key,
            "size_bytes": out_size,
            "width": variant.width,
            "height": variant.height,
        },
        "poster_key": poster_key,
        "bytes_downloaded": run.facts["bytes_downloaded"],
        "bytes_uploaded": run.facts["bytes_uploaded"],
        "video_seconds": run.facts["source"]["duration_s"],
        "steps_s": run.facts["steps_s"],
    }
