"""Homework and videos: pynamodb models and their queries (no HTTP, no S3 here).

Every list is an index query (per kind, customer, student, or eligibility); none scans. A video's
``eligibility`` index attribute is derived from ``variant_count`` in the same conditional write that
changes the variants, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, condition_failed, decode_token, gsi, meta, new_id, page, utcnow
from chalicelib.core.errors import NotFound
from chalicelib.media import domain

HOMEWORK, VIDEO = "homework", "video"


class Homework(Model):
    Meta = meta("homework")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=HOMEWORK)
    customer_id = UnicodeAttribute()
    student_id = UnicodeAttribute()
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size_bytes = NumberAttribute()
    # The object downloads read: the upload key until ``complete``, then the verified copy
    # (``.../submitted-<etag>.<ext>``). Rows completed before copies existed keep their upload key.
    key = UnicodeAttribute()
    upload_key = UnicodeAttribute(null=True)  # where the presigned POST wrote, once ``key`` moved to the copy
    etag = UnicodeAttribute(null=True)  # the kept object's ETag (MD5 of its bytes under SSE-S3)
    status = UnicodeAttribute(default=domain.AWAITING_UPLOAD)
    created_at = UTCDateTime()
    uploaded_at = UTCDateTime(null=True)
    by_kind = gsi("by_kind", "kind", "id")
    by_customer = gsi("by_customer", "customer_id", "id")
    by_student = gsi("by_student", "student_id", "id")


class Variant(MapAttribute):
    name = UnicodeAttribute()
    key = UnicodeAttribute()
    size_bytes = NumberAttribute()
    content_type = UnicodeAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    duration_s = NumberAttribute(null=True)


class Video(Model):
    Meta = meta("videos")
    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=VIDEO)
    customer_id = UnicodeAttribute()
    student_id = UnicodeAttribute()
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size_bytes = NumberAttribute()  # declared at upload time
    original_key = UnicodeAttribute()
    original_etag = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default=domain.AWAITING_UPLOAD)
    # A resumable (S3 multipart) upload of the original: its id and how the file is cut into parts.
    upload_id = UnicodeAttribute(null=True)
    part_size = NumberAttribute(null=True)
    part_count = NumberAttribute(null=True)
    variants = ListAttribute(of=Variant, default=list)
    variant_count = NumberAttribute(default=0)
    eligibility = UnicodeAttribute(null=True)  # derived from variant_count, for the by_eligibility index
    poster_key = UnicodeAttribute(null=True)
    last_job_id = UnicodeAttribute(null=True)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    uploaded_at = UTCDateTime(null=True)
    optimised_at = UTCDateTime(null=True)
    by_kind = gsi("by_kind", "kind", "id")
    by_customer = gsi("by_customer", "customer_id", "id")
    by_student = gsi("by_student", "student_id", "id")
    by_eligibility = gsi("by_eligibility", "eligibility", "id")


def _list(index: Any, hash_value: str, limit: int, next_token: str | None, newest_first: bool = True, **kw: Any) -> Any:
    it = index.query(
        hash_value,
        scan_index_forward=not newest_first,
        limit=limit,
        page_size=limit,
        last_evaluated_key=decode_token(next_token),
        **kw,
    )
    return page(it, limit)


# --- homework ----------------------------------------------------------------------------------


def create_homework(customer_id: str, student_id: str, filename: str, content_type: str, size_bytes: int, ext: str) -> Homework:
    hid = new_id()
    hw = Homework(
        id=hid,
        customer_id=customer_id,
        student_id=student_id,
        filename=filename,
        content_type=content_type,
        size_bytes=size_bytes,
        key=domain.homework_key(customer_id, student_id, hid, ext),
        created_at=utcnow(),
    )
    hw.save(condition=Homework.id.does_not_exist())
    return hw


def get_homework(homework_id: str, customer_id: str | None = None) -> Homework:
    """One homework; for a customer, someone else's is indistinguishable from a missing one (404)."""
    try:
        hw = Homework.get(homework_id, consistent_read=True)
    except Homework.DoesNotExist:
        hw = None
    if hw is None or (customer_id is not None and hw.customer_id != customer_id):
        raise NotFound(f"Homework {homework_id} does not exist.", code="homework_not_found", details={"homework_id": homework_id})
    return hw


def record_homework_submitted(hw: Homework, kept_key: str, etag: str | None) -> bool:
    """awaiting_upload → uploaded, pointing ``key`` at the kept copy; only from the awaiting state.

    False (and ``hw`` refreshed to what is recorded) when another complete got there first.
    """
    upload_key = hw.key
    try:
        hw.update(
            actions=[
                Homework.status.set(domain.UPLOADED),
                Homework.uploaded_at.set(utcnow()),
                Homework.key.set(kept_key),
                Homework.upload_key.set(upload_key),
                Homework.etag.set(etag),
            ],
            condition=(Homework.status == domain.AWAITING_UPLOAD) & (Homework.key == upload_key),
        )
        return True
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        hw.refresh(consistent_read=True)
        return False


def list_homework(
    limit: int, next_token: str | None, *, customer_id: str | None = None, student_id: str | None = None
) -> tuple[list[Homework], str | None]:
    if student_id:
        filt = Homework.customer_id == customer_id if customer_id else None
        return _list(Homework.by_student, student_id, limit, next_token, filter_condition=filt)
    if customer_id:
        return _list(Homework.by_customer, customer_id, limit, next_token)
    return _list(Homework.by_kind, HOMEWORK, limit, next_token)


# --- videos ------------------------------------------------------------------------------------


def create_video(
    customer_id: str,
    student_id: str,
    filename: str,
    content_type: str,
    size_bytes: int,
    ext: str,
    *,
    video_id: str | None = None,
    multipart: dict[str, Any] | None = None,
) -> Video:
    """A video awaiting its upload; ``multipart``: ``{upload_id, part_size, part_count}`` of a resumable one."""
    vid = video_id or new_id()
    now = utcnow()
    video = Video(
        id=vid,
        customer_id=customer_id,
        student_id=student_id,
        filename=filename,
        content_type=content_type,
        size_bytes=size_bytes,
        original_key=original_key(customer_id, student_id, vid, ext, multipart=bool(multipart)),
        created_at=now,
        updated_at=now,
        **(multipart or {}),
    )
    video.save(condition=Video.id.does_not_exist())
    return video


def original_key(customer_id: str, student_id: str, video_id: str, ext: str, *, multipart: bool = False) -> str:
    """Where the original lives. A multipart upload completes to ``original-parts.<ext>``: no presigned POST
    ever targets it, and its part URLs die with the upload id once S3 has assembled it."""
    return f"{domain.video_prefix(customer_id, student_id, video_id)}original{'-parts' if multipart else ''}.{ext}"


def delete_awaiting(video: Video) -> bool:
    """Remove a video whose upload never completed (cancelled, or refused); False if it completed meanwhile."""
    try:
        video.delete(condition=Video.status == domain.AWAITING_UPLOAD)
        return True
    except DeleteError as exc:
        if condition_failed(exc):
            return False
        raise


def get_video(video_id: str, customer_id: str | None = None, consistent: bool = True) -> Video:
    try:
        video = Video.get(video_id, consistent_read=consistent)
    except Video.DoesNotExist:
        video = None
    if video is None or (customer_id is not None and video.customer_id != customer_id):
        raise NotFound(f"Video {video_id} does not exist.", code="video_not_found", details={"video_id": video_id})
    return video


def record_original(video: Video, size_bytes: int, etag: str | None) -> bool:
    """Record the ``original`` variant once. False if it was already recorded (a repeated complete)."""
    now = utcnow()
    original = Variant(name=domain.ORIGINAL, key=video.original_key, size_bytes=size_bytes, content_type=video.content_type)
    try:
        video.update(
            actions=[
                Video.variants.set([original]),
                Video.variant_count.set(1),
                Video.eligibility.set(domain.OPTIMISABLE),
                Video.status.set(domain.UPLOADED),
                Video.original_etag.set(etag),
                Video.uploaded_at.set(now),
                Video.updated_at.set(now),
            ],
            condition=(Video.variant_count == 0) | Video.variant_count.does_not_exist(),
        )
        return True
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        video.refresh(consistent_read=True)
        return False


def record_optimised(video_id: str, original: Variant, variant: Variant, poster_key: str) -> bool:
    """Add the 720p variant (and refresh the original's measured metadata) exactly once.

    The condition ``variant_count == 1`` makes a duplicate or concurrent worker's write fail: the
    variant is never added twice. Returns False when the video was already optimised.
    """
    now = utcnow()
    try:
        Video(id=video_id).update(
            actions=[
                Video.variants.set([original, variant]),
                Video.variant_count.set(2),
                Video.eligibility.set(domain.OPTIMISED),
                Video.poster_key.set(poster_key),
                Video.optimised_at.set(now),
                Video.updated_at.set(now),
            ],
            condition=Video.id.exists() & (Video.variant_count == 1),
        )
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


def set_last_job(video_id: str, job_id: str) -> None:
    """Remember the newest job (for list pages: one batch read of jobs instead of a query per video)."""
    try:
        Video(id=video_id).update(
            actions=[Video.last_job_id.set(job_id)],
            condition=Video.id.exists() & (Video.last_job_id.does_not_exist() | (Video.last_job_id < job_id)),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise


def list_videos(
    limit: int,
    next_token: str | None,
    *,
    customer_id: str | None = None,
    student_id: str | None = None,
    optimisable: bool | None = None,
) -> tuple[list[Video], str | None]:
    wanted = None if optimisable is None else (domain.OPTIMISABLE if optimisable else domain.OPTIMISED)
    if student_id:
        filt = None
        if customer_id:
            filt = Video.customer_id == customer_id
        if wanted:
            filt = (filt & (Video.eligibility == wanted)) if filt is not None else Video.eligibility == wanted
        return _list(Video.by_student, student_id, limit, next_token, filter_condition=filt)
    if customer_id:
        filt = Video.eligibility == wanted if wanted else None
        return _list(Video.by_customer, customer_id, limit, next_token, filter_condition=filt)
    if wanted:
        return _list(Video.by_eligibility, wanted, limit, next_token)
    return _list(Video.by_kind, VIDEO, limit, next_token)
