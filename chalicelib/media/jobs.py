"""The media capability's job types: ``process_video_proof`` on the media queue.

Light at import (the catalog loads it wherever a job is enqueued): the store and the ffmpeg machinery
(media/pipeline.py) are imported inside the body, on the worker.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from chalicelib.jobs.registry import job_type

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext
    from chalicelib.media.pipeline import Tools


@job_type("process_video_proof", queue="media", timeout_s=300)
def process_video_proof(job: Job, ctx: JobContext, tools: Tools | None = None) -> dict[str, Any]:
    """Make the 720p variant and the poster of one video, at most once.

    Eligibility is re-checked first: a duplicate message for an optimised video does nothing; a video that
    is gone, or has no original recorded, fails permanently. ``tools``: what the pipeline runs on
    (default :data:`chalicelib.media.pipeline.TOOLS`).
    """
    from chalicelib.core.errors import Missing
    from chalicelib.core.observability import logger
    from chalicelib.jobs.errors import PermanentJobError
    from chalicelib.media import domain, pipeline, store

    video_id = str((job.payload or {}).get("video_id") or "")
    try:
        video = store.get_video(video_id)
    except Missing as exc:
        raise PermanentJobError(f"video {video_id!r} does not exist") from exc
    count = int(video.variant_count or 0)
    if domain.eligibility(count) == domain.OPTIMISED:
        logger.info("video already optimised; nothing to do", extra={"video_id": video_id, "variant_count": count})
        return {"video_id": video_id, "skipped": "already_optimised", "variant_count": count}
    if not domain.is_optimisable(count):
        raise PermanentJobError(f"video {video_id} has no original recorded (variant_count={count})")
    started = time.monotonic()
    result = pipeline.optimise(video, job.job_id, ctx, tools or pipeline.TOOLS)
    if result.get("recorded"):
        _rollup(job.job_id, result, time.monotonic() - started, pipeline.peak_rss_mb())
    return result


def _rollup(job_id: str, result: dict[str, Any], worker_seconds: float, peak_mb: float) -> None:
    """The run's media figures: summed by the ledger's success transition (``result["rollup"]``, counted
    once), and the worker's peak memory as its bucket's maximum (idempotent)."""
    import os

    from chalicelib.core.db import utcnow
    from chalicelib.jobs.rollups import RESULT_KEY
    from chalicelib.metrics import prices, service

    memory_mb = float(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or prices.DEFAULT_WORKER_MEMORY_MB)
    result[RESULT_KEY] = service.media_rollup(
        bytes_in=float(result.get("bytes_downloaded") or 0),
        bytes_out=float(result.get("bytes_uploaded") or 0),
        video_seconds=float(result.get("video_seconds") or 0),
        worker_seconds=worker_seconds,
        memory_mb=memory_mb,
    )
    service.record_peak(utcnow(), job_id, peak_mb)
