"""Service support: probe before you reserve. an uploaded video's structure is checked by the API, with a few small ranged
reads, before a job is queued for the 2 GB / 10 GB-``/tmp`` media worker.

A file that merely starts with ``ftyp`` (the upload's type sniff) but has no movie header or media data,
boxes that do not fit the file, a Matroska/WebM file without a Segment, or an MP4/MOV whose movie
header says it is longer than ``ACADEMY_VIDEO_MAX_SECONDS`` → the upload is discarded and the customer
gets a 400 (``not_a_video`` / ``video_too_long``); no worker ever starts for it. The worker still probes
with ffmpeg (a well-formed container can hold garbage) and re-checks the duration.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.core import aws
from chalicelib.core.errors import Invalid
from chalicelib.core.observability import metrics
from chalicelib.core.settings import get_settings
from chalicelib.media import domain, objects

Read = Callable[[int, int], bytes]  # (offset, length) -> those bytes of the object

MATROSKA_TYPES = ("video/webm", "video/x-matroska", "video/matroska")


def ranged_reader(key: str) -> Read:
    """Ranged GETs of one object in the bucket."""
    s3, bucket = aws.client("s3"), get_settings().bucket_name

    def read(offset: int, length: int) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")["Body"].read(length))

    return read


def check_video_upload(key: str, content_type: str, size: int, read: Read | None = None) -> float | None:
    """Raise 400 (after deleting the upload) unless the object is a plausible, not too long video.
    Returns the duration when the container states it (MP4/MOV). ``read``: how the object's bytes are
    read (default: ranged GETs of ``key``)."""
    read = read or ranged_reader(key)
    max_s = get_settings().video_max_seconds
    try:
        if content_type in MATROSKA_TYPES:
            domain.check_matroska(read(0, 4096), size)
            return None
        duration = domain.check_mp4(read, size)
    except domain.NotAContainer as exc:
        objects.delete(key)
        metrics.add_metric(name="UploadRefused", unit="Count", value=1)
        raise Invalid(
            f"The uploaded file is not a playable video ({exc}); it was discarded. Start a new upload.",
            code="not_a_video",
            details={"reason": str(exc)},
        ) from exc
    if duration is not None and duration > max_s:
        objects.delete(key)
        metrics.add_metric(name="UploadRefused", unit="Count", value=1)
        raise Invalid(
            domain.max_video_seconds_message(duration, max_s),
            code="video_too_long",
            details={"duration_s": round(duration, 3), "max_duration_s": max_s},
        )
    return duration
