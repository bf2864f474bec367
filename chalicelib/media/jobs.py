"""The media capability's job types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.jobs.registry import job_type

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.worker import JobContext


@job_type("process_video_proof", queue="media", timeout_s=300)
def process_video_proof(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Make the 720p/480p variants and the poster of one video (the ffmpeg pipeline loads here, on the worker)."""
    from chalicelib.media import pipeline

    return pipeline.process_video_proof(job, ctx)
