"""Homework and videos: pynamodb models and their queries (no HTTP, no S3 here); a missing row is a
``Missing`` (404 ``homework_not_found`` / ``video_not_found``), a refused transition is ``False``.

Every list is an index query (per kind, customer, student, or eligibility); none scans. A video's
``eligibility`` index attribute is derived from ``variant_count`` in the same conditional write that
changes the variants, so the two cannot disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, condition_failed, gsi, meta, new_id, query_page, transition, utcnow
from chalicelib.core.errors import Missing
from chalicelib.media import domain

HOMEWORK, VIDEO = "homework", "video"


class Review(MapAttribute[str, Any]):
    """One review of a homework: the admin's written feedback, who wrote it, when."""

    feedback = UnicodeAttribute()
    reviewer = UnicodeAttribute()
    at = UTCDateTime()


def review(feedback: str, reviewer: str, at: datetime) -> Review:
    """A review entry (typed: pynamodb's ``MapAttribute.__init__`` takes untyped ``**attributes``)."""
    return Review(feedback=feedback, reviewer=reviewer, at=at)  # type: ignore[no-untyped-call]  # unannotated in pynamodb


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
    # Review: every write after creation adds 1 to ``rev`` (an admin's review is conditional on the one read);
    # ``reviews`` is the bounded history, newest last (domain.MAX_REVIEWS). Rows older than ``rev`` are at 0.
    rev = NumberAttribute(default=0)
    reviews = ListAttribute(of=Review, default=list)
    reviewed_at = UTCDateTime(null=True)
    by_kind = gsi("by_kind", "kind", "id")
    by_customer = gsi("by_customer", "customer_id", "id")
    by_student = gsi("by_student", "student_id", "id")
    by_status = gsi("by_status", "status", "id")  # the admin list: one status, newest first, a date range by id


class Variant(MapAttribute[str, Any]):
    name = UnicodeAttribute()
    key = UnicodeAttribute()
    size_bytes = NumberAttribute()
    content_type = UnicodeAttribute(null=True)
    width = NumberAttribute(null=True)
    height = NumberAttribute(null=True)
    duration_s = NumberAttribute(null=True)


def variant(
    name: str,
    key: str,
    size_bytes: int,
    content_type: str | None = None,
    *,
    width: int | None = None,
    height: int | None = None,
    duration_s: float | None = None,
) -> Variant:
    """A variant entry (typed: pynamodb's ``MapAttribute.__init__`` takes untyped ``**attributes``)."""
    return Variant(  # type: ignore[no-untyped-call]  # MapAttribute.__init__ is unannotated in pynamodb
        name=name, key=key, size_bytes=size_bytes, content_type=content_type, width=width, height=height, duration_s=duration_s
    )


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


def _get[M: (Homework, Video)](model: type[M], noun: str, item_id: str, customer_id: str | None, consistent: bool = True) -> M:
    """One row; for a customer, someone else's is indistinguishable from a missing one (404 ``<noun>_not_found``)."""
    try:
        item = model.get(item_id, consistent_read=consistent)
    except model.DoesNotExist:
        item = None
    if item is None or (customer_id is not None and item.customer_id != customer_id):
        raise Missing(f"{noun.capitalize()} {item_id} does not exist.", code=f"{noun}_not_found", details={f"{noun}_id": item_id})
    return item


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
    return _get(Homework, "homework", homework_id, customer_id)


def record_homework_submitted(hw: Homework, kept_key: str, etag: str | None) -> bool:
    """awaiting_upload → uploaded, pointing ``key`` at the kept copy; only from the awaiting state.

    False (and ``hw`` refreshed to what is recorded) when another complete got there first.
    """
    upload_key = hw.key
    actions = [
        Homework.status.set(domain.UPLOADED),
        Homework.uploaded_at.set(utcnow()),
        Homework.key.set(kept_key),
        Homework.upload_key.set(upload_key),
        Homework.etag.set(etag),  # type: ignore[arg-type]  # None stores NULL; the stubs accept only str
        Homework.rev.add(1),
    ]
    return _transition_or_refresh(hw, actions, (Homework.status == domain.AWAITING_UPLOAD) & (Homework.key == upload_key))


def _transition_or_refresh(item: Homework | Video, actions: list[Any], condition: Any) -> bool:
    """:func:`transition`; when the condition refused it, ``item`` is refreshed to what is recorded."""
    if transition(item, actions, condition):
        return True
    item.refresh(consistent_read=True)
    return False


def _at_rev(rev: int) -> Any:
    """The row is still at ``rev`` (rows written before ``rev`` existed are at 0)."""
    cond = Homework.rev == rev
    return cond | Homework.rev.does_not_exist() if rev == 0 else cond


def record_review(hw: Homework, rev: int, feedback: str, reviewer: str) -> bool:
    """Append a review (bounded history), status ``reviewed``, ``rev`` + 1: one conditional UpdateItem, only
    while the row is still at ``rev`` and submitted. False (and ``hw`` refreshed) when the condition refused it."""
    now = utcnow()
    history = domain.appended_reviews(list(hw.reviews or []), review(feedback, reviewer, now))
    actions = [
        Homework.status.set(domain.REVIEWED),
        Homework.reviews.set(history),
        Homework.reviewed_at.set(now),
        Homework.rev.add(1),
    ]
    submitted = Homework.status.is_in(*domain.SUBMITTED)
    return _transition_or_refresh(hw, actions, Homework.id.exists() & submitted & _at_rev(rev))


def list_customer_homework(
    customer_id: str, limit: int, next_token: str | None, student_id: str | None = None
) -> tuple[list[Homework], str | None]:
    """One customer's homework newest first (optionally one student's). Admins list homework through
    :func:`list_homework_review`."""
    if student_id:
        return query_page(
            Homework.by_student.query,
            student_id,
            filter_condition=Homework.customer_id == customer_id,
            limit=limit,
            next_token=next_token,
            newest_first=True,
        )
    return query_page(Homework.by_customer.query, customer_id, limit=limit, next_token=next_token, newest_first=True)


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
    """One video; for a customer, someone else's is indistinguishable from a missing one (404)."""
    return _get(Video, "video", video_id, customer_id, consistent)


def record_original(video: Video, size_bytes: int, etag: str | None) -> bool:
    """Record the ``original`` variant once. False if it was already recorded (a repeated complete)."""
    now = utcnow()
    original = variant(domain.ORIGINAL, video.original_key, size_bytes, video.content_type)
    actions = [
        Video.variants.set([original]),
        Video.variant_count.set(1),
        Video.eligibility.set(domain.OPTIMISABLE),
        Video.status.set(domain.UPLOADED),
        Video.original_etag.set(etag),  # type: ignore[arg-type]  # None stores NULL; the stubs accept only str
        Video.uploaded_at.set(now),
        Video.updated_at.set(now),
    ]
    return _transition_or_refresh(video, actions, (Video.variant_count == 0) | Video.variant_count.does_not_exist())


def record_optimised(video_id: str, original: Variant, variant: Variant, poster_key: str) -> bool:
    """Add the 720p variant (and refresh the original's measured metadata) exactly once.

    The condition ``variant_count == 1`` makes a duplicate or concurrent worker's write fail: the
    variant is never added twice. Returns False when the video was already optimised.
    """
    now = utcnow()
    actions = [
        Video.variants.set([original, variant]),
        Video.variant_count.set(2),
        Video.eligibility.set(domain.OPTIMISED),
        Video.poster_key.set(poster_key),
        Video.optimised_at.set(now),
        Video.updated_at.set(now),
    ]
    return transition(Video(id=video_id), actions, Video.id.exists() & (Video.variant_count == 1))


def set_last_job(video_id: str, job_id: str) -> None:
    """Remember the newest job (for list pages: one batch read of jobs instead of a query per video)."""
    newer = Video.last_job_id.does_not_exist() | (Video.last_job_id < job_id)
    transition(Video(id=video_id), [Video.last_job_id.set(job_id)], Video.id.exists() & newer)


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
        return query_page(
            Video.by_student.query, student_id, filter_condition=filt, limit=limit, next_token=next_token, newest_first=True
        )
    if customer_id:
        filt = Video.eligibility == wanted if wanted else None
        return query_page(
            Video.by_customer.query, customer_id, filter_condition=filt, limit=limit, next_token=next_token, newest_first=True
        )
    if wanted:
        return query_page(Video.by_eligibility.query, wanted, limit=limit, next_token=next_token, newest_first=True)
    return query_page(Video.by_kind.query, VIDEO, limit=limit, next_token=next_token, newest_first=True)


# --- the admin's homework list: filters, unreviewed first ----------------------------------------


def _phase_token(phase: int, inner: str | None) -> str:
    return f"{phase}:{inner or ''}"


def _open_phase_token(token: str | None, phases: int) -> tuple[int, str | None]:
    """``(phase, cursor inside it)`` of a position :func:`list_homework_review` issued (the route sealed it)."""
    if not token:
        return 0, None
    head, sep, inner = token.partition(":")
    if not sep or not head.isdigit() or int(head) >= phases:
        from chalicelib.core.cursors import invalid

        raise invalid("next_token", "malformed")
    return int(head), inner or None


def list_homework_review(
    limit: int,
    next_token: str | None,
    *,
    statuses: tuple[str, ...],
    student_id: str | None = None,
    id_range: tuple[str, str] | None = None,
) -> tuple[list[Homework], str | None]:
    """Homework in ``statuses`` order (each phase newest first), optionally one student's, ids in ``id_range``.

    One index query per phase, never a scan: ``by_status`` (status, id) — or, for one student,
    ``by_student`` (student_id, id) filtered on the status. The date range is a key condition on the
    ULID ids. The cursor is ``<phase>:<cursor inside the phase>``: a page that ends a phase with room
    left continues into the next one, so a client just follows ``next_token`` across the phases.
    """
    phase, inner = _open_phase_token(next_token, len(statuses))
    rng = Homework.id.between(*id_range) if id_range else None
    items: list[Homework] = []
    while phase < len(statuses):
        status = statuses[phase]
        if student_id:
            got, inner = query_page(
                Homework.by_student.query,
                student_id,
                range_key_condition=rng,
                filter_condition=Homework.status == status,
                limit=limit - len(items),
                next_token=inner,
                newest_first=True,
            )
        else:
            got, inner = query_page(
                Homework.by_status.query,
                status,
                range_key_condition=rng,
                limit=limit - len(items),
                next_token=inner,
                newest_first=True,
            )
        items += got
        if inner:  # this phase has more: continue inside it
            return items, _phase_token(phase, inner)
        phase += 1
        if len(items) >= limit:
            return items, _phase_token(phase, None) if phase < len(statuses) else None
    return items, None
