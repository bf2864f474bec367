"""Media use cases: starting uploads, completing them, the lists, and queueing optimisation exactly once.

Every upload (homework, a video by one presigned POST, a resumable video) is admitted the same way: the
customer id can name a storage prefix, the student is theirs, the declared file is of an allowed type and
size, and today's quota counts it. Queueing goes through the job runtime's ``dispatch`` with a dedupe key
derived from the video's newest job (``after:<job_id>`` or ``after:none``): two clicks that saw the same
state produce the same key, so only one job is created, whichever process or thread gets there first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import Conflicting, DomainError, stale_revision
from chalicelib.core.observability import logger, metrics
from chalicelib.core.settings import Settings, get_settings
from chalicelib.jobs import ledger, states
from chalicelib.jobs.dispatch import dispatch
from chalicelib.jobs.ledger import Job
from chalicelib.media import domain, multipart, objects, precheck, quota, store
from chalicelib.media.store import Homework, Video
from chalicelib.students import store as students

if TYPE_CHECKING:
    from chalicelib.media.schemas import AdminHomeworkQuery, HomeworkQuery, MediaQuery

JOB_TYPE = "process_video_proof"
HOMEWORK_POST_EXPIRES_S = 900


@dataclass(frozen=True)
class UploadKind:
    """What a kind of upload admits: its quota's (and incident area's) name, types and size cap."""

    name: str
    types: dict[str, tuple[str, ...]]
    max_bytes: Callable[[Settings], int]


HOMEWORK = UploadKind("homework", domain.HOMEWORK_TYPES, lambda s: s.homework_max_bytes)
VIDEOS = UploadKind("videos", domain.VIDEO_TYPES, lambda s: s.video_max_bytes)


def _admit(
    kind: UploadKind, customer_id: str, student_id: str, filename: str, content_type: str, size_bytes: int
) -> tuple[str, str]:
    """``(content type, key extension)`` of an upload the customer may start, counted against today's quota."""
    domain.check_customer(customer_id)
    students.get_owned(student_id, customer_id)
    content_type = content_type.lower()
    ext = domain.check_declared(filename, content_type, size_bytes, kind.types, kind.max_bytes(get_settings()))
    quota.reserve(customer_id, size_bytes, kind.name)
    return content_type, ext


def _owned_scope(customer_id: str | None, student_id: str | None) -> None:
    """A customer's ``student_id`` filter must name one of their students (404 otherwise)."""
    if customer_id is not None and student_id:
        students.get_owned(student_id, customer_id)


# --- homework ----------------------------------------------------------------------------------


def start_homework(
    customer_id: str, student_id: str, filename: str, content_type: str, size_bytes: int
) -> tuple[Homework, dict[str, Any]]:
    """A homework row awaiting its file, and the presigned POST for it."""
    content_type, ext = _admit(HOMEWORK, customer_id, student_id, filename, content_type, size_bytes)
    hw = store.create_homework(customer_id, student_id, filename, content_type, size_bytes, ext)
    return hw, objects.presigned_post(hw.key, content_type, size_bytes, expires_s=HOMEWORK_POST_EXPIRES_S)


def list_homework(query: HomeworkQuery, customer_id: str) -> tuple[list[Homework], str | None]:
    """A customer's homework newest first; optionally one of their students'."""
    _owned_scope(customer_id, query.student_id)
    return store.list_customer_homework(customer_id, query.limit, query.next_token, query.student_id)


def _submitted_key(hw: Homework, etag: str | None) -> str:
    try:
        return domain.homework_submitted_key(hw.customer_id, hw.student_id, hw.id, domain.key_extension(hw.key), etag or "")
    except domain.MediaRuleError as exc:
        raise RuntimeError(f"S3 returned no usable ETag for {hw.key}: {etag!r}") from exc


def _already_kept(hw: Homework) -> tuple[str, objects.UploadedObject] | None:
    """A verified copy left by an earlier complete that stopped before recording it (or a concurrent one)."""
    for key in objects.keys_under(domain.homework_submitted_prefix(hw.customer_id, hw.student_id, hw.id)):
        try:  # only complete writes under this prefix, and only copies of verified uploads
            return key, objects.verify_upload(key, hw.content_type, int(hw.size_bytes))
        except DomainError:  # gone meanwhile, or (never expected) not what was declared: verify_upload deleted it
            continue
    return None


def complete_homework(homework_id: str, customer_id: str) -> Homework:
    """Verify the upload and keep exactly the verified bytes: what an admin downloads can no longer change.

    verify (HeadObject + first bytes) → CopyObject to ``.../submitted-<etag>.<ext>`` with
    ``CopySourceIfMatch`` (a replacement racing in → 409 ``upload_changed``, nothing recorded) → delete the
    upload → record the copy (conditional: only from ``awaiting_upload``). A complete that died after the
    copy is finished by the next one, which finds and re-verifies the copy. Repeats return the same homework.
    """
    hw = store.get_homework(homework_id, customer_id)
    if hw.status in domain.SUBMITTED:  # uploaded, or reviewed since
        return hw
    etag: str | None
    try:
        uploaded = objects.verify_upload(hw.key, hw.content_type, int(hw.size_bytes))
        kept = _submitted_key(hw, uploaded.etag)
        etag = objects.copy_verified(hw.key, kept, str(uploaded.etag))
    except Conflicting as exc:
        if exc.code != "upload_missing":
            raise
        found = _already_kept(hw)  # copied (and the upload deleted) by a complete that did not record it
        if found is None:
            raise
        kept, etag = found[0], found[1].etag
    else:
        objects.delete(hw.key)  # a re-POST after this creates an object nothing references
    if store.record_homework_submitted(hw, kept, etag):
        metrics.add_metric(name="HomeworkUploaded", unit="Count", value=1)
    elif hw.key != kept:
        objects.delete(kept)  # another complete recorded a different copy: ours is unreferenced
    return hw


def _not_submitted(hw: Homework) -> Conflicting:
    return Conflicting(
        "This homework's file has not been uploaded yet.",
        code="homework_not_uploaded",
        details={"homework_id": hw.id, "status": hw.status},
    )


def review_homework(homework_id: str, rev: int, feedback: str, reviewer: str) -> Homework:
    """Mark a submitted homework ``reviewed`` with written feedback, at the revision the admin read.

    Unknown → 404; not uploaded yet → 409 ``homework_not_uploaded``; changed since ``rev`` (another review,
    a completion) → 409 ``stale_revision``. A re-review appends to the bounded history (domain.MAX_REVIEWS).
    """
    hw = store.get_homework(homework_id)
    for _ in range(2):  # the read, then once more only to explain a refusal
        if hw.status not in domain.SUBMITTED:
            raise _not_submitted(hw)
        if int(hw.rev or 0) != rev:
            raise stale_revision("Homework", hw.id, rev, int(hw.rev or 0))
        if store.record_review(hw, rev, feedback, reviewer):
            metrics.add_metric(name="HomeworkReviewed", unit="Count", value=1)
            return hw
    raise stale_revision("Homework", hw.id, rev, int(hw.rev or 0))  # pragma: no cover  (refused twice at one rev)


def list_homework_review(query: AdminHomeworkQuery) -> tuple[list[Homework], str | None]:
    """The admin's list: one status, or unreviewed first (then reviewed, then awaiting); newest first in each."""
    statuses = (query.status,) if query.status else domain.REVIEW_ORDER
    id_range = None
    if query.from_ or query.to:
        start = _day_ms(query.from_) if query.from_ else None
        end = _day_ms(query.to) + 86_400_000 if query.to else None  # ``to`` is inclusive
        if start is not None and end is not None and start >= end:
            from chalicelib.core.errors import Invalid

            raise Invalid("`from` must not be after `to`.", details={"fields": {"from": "after to"}})
        id_range = domain.ulid_bounds(start, end)
        if id_range is None:  # before 1970 or after the ULID era: no id can be there
            return [], None
    return store.list_homework_review(
        query.limit, query.next_token, statuses=statuses, student_id=query.student_id, id_range=id_range
    )


def _day_ms(day: date) -> int:
    """Milliseconds since the epoch at the start of ``day`` (UTC)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def homework_file(hw: Homework) -> dict[str, Any]:
    """A short-lived presigned GET of the kept file: inline for PDF and browser images, else an attachment."""
    if hw.status not in domain.SUBMITTED:
        raise _not_submitted(hw)
    disp = domain.disposition(hw.content_type, hw.filename)
    return {
        "url": objects.presigned_get(hw.key, disposition=disp, content_type=hw.content_type),
        "expires_in": objects.DOWNLOAD_EXPIRES_S,
        "disposition": disp.split(";")[0],
        "content_type": hw.content_type,
        "filename": hw.filename,
    }


# --- videos ------------------------------------------------------------------------------------


def _not_playable(video: Video) -> Conflicting:
    return Conflicting("This video has not been uploaded yet.", code="video_not_uploaded", details={"video_id": video.id})


def playback(video: Video) -> dict[str, Any]:
    """What the page's ``<video>`` plays: the 720p variant when it exists, else the original (a ranged GET works)."""
    by_name = {v.name: v for v in video.variants or []}
    chosen = by_name.get(domain.OPTIMISED_720P) or by_name.get(domain.ORIGINAL)
    if chosen is None:
        raise _not_playable(video)
    ctype = chosen.content_type or ("video/mp4" if chosen.name == domain.OPTIMISED_720P else video.content_type)
    return {
        "url": objects.presigned_get(chosen.key, disposition="inline", content_type=ctype),
        "poster_url": objects.presigned_get(video.poster_key),
        "variant": chosen.name,
        "content_type": ctype,
        "expires_in": objects.DOWNLOAD_EXPIRES_S,
    }


def original_download(video: Video) -> dict[str, Any]:
    """A presigned GET of the original, as an attachment named like the upload."""
    original = next((v for v in video.variants or [] if v.name == domain.ORIGINAL), None)
    if original is None:
        raise _not_playable(video)
    disp = domain.disposition(video.content_type, video.filename, inline=False)
    return {
        "url": objects.presigned_get(original.key, disposition=disp, content_type=video.content_type),
        "expires_in": objects.DOWNLOAD_EXPIRES_S,
        "disposition": "attachment",
        "content_type": video.content_type,
        "filename": video.filename,
    }


def start_video(
    customer_id: str, student_id: str, filename: str, content_type: str, size_bytes: int, *, resumable: bool = False
) -> tuple[Video, dict[str, Any] | None, dict[str, Any] | None]:
    """A video awaiting its original: ``(video, presigned POST, None)``, or with ``resumable``
    ``(video, None, multipart session)`` (see media/multipart.py)."""
    content_type, ext = _admit(VIDEOS, customer_id, student_id, filename, content_type, size_bytes)
    if resumable:
        video, session = multipart.open_upload(customer_id, student_id, filename, content_type, size_bytes, ext)
        return video, None, session
    video = store.create_video(customer_id, student_id, filename, content_type, size_bytes, ext)
    return video, objects.presigned_post(video.original_key, content_type, size_bytes), None


def list_videos(query: MediaQuery, customer_id: str | None = None) -> tuple[list[Video], str | None]:
    """Videos newest first: everyone's (admin) or one customer's; by student and eligibility."""
    _owned_scope(customer_id, query.student_id)
    q = query
    return store.list_videos(q.limit, q.next_token, customer_id=customer_id, student_id=q.student_id, optimisable=q.optimisable)


def current_job(video: Video) -> Job | None:
    """The video's newest job: the remembered one or the newest by index, whichever is newer."""
    candidates = [j for j in (ledger.find(video.last_job_id) if video.last_job_id else None,) if j is not None]
    indexed = ledger.latest_for_entity("video", video.id)
    if indexed is not None:
        candidates.append(indexed)
    return max(candidates, key=lambda j: j.job_id) if candidates else None


def queue_optimisation(video: Video, previous: Job | None, reason: str) -> tuple[Job, bool]:
    """Dispatch the job once per state of the video's newest job (``created`` False for a duplicate)."""
    job, created = dispatch(
        JOB_TYPE,
        {"video_id": video.id, "reason": reason},
        entity={"type": "video", "id": video.id},
        dedupe_key=f"{JOB_TYPE}:{video.id}:after:{previous.job_id if previous else 'none'}",
    )
    store.set_last_job(video.id, job.job_id)
    return job, created


def complete_video(video_id: str, customer_id: str) -> tuple[Video, Job | None]:
    """Verify the upload, record the ``original`` variant and queue optimisation (idempotent)."""
    video = store.get_video(video_id, customer_id)
    if video.status != domain.UPLOADED:
        if video.upload_id:  # a resumable upload: S3 assembles the parts first
            multipart.assemble(video)
        uploaded = objects.verify_upload(video.original_key, video.content_type, int(video.size_bytes))
        precheck.check_video_upload(video.original_key, video.content_type, uploaded.size_bytes)
        store.record_original(video, uploaded.size_bytes, uploaded.etag)
        metrics.add_metric(name="VideoUploaded", unit="Count", value=1)
    previous = current_job(video)
    job = previous
    if domain.is_optimisable(int(video.variant_count)) and previous is None:
        job, _ = queue_optimisation(video, None, "upload")
    return store.get_video(video.id), job


def request_optimisation(video_id: str, *, newest_job: Callable[[Video], Job | None] = current_job) -> Job:
    """The admin's button: a new job when eligible and none is queued or running, else 409.

    ``newest_job``: how the video's newest job is read (default :func:`current_job`).
    """
    video = store.get_video(video_id)
    count = int(video.variant_count)
    if domain.eligibility(count) == domain.OPTIMISED:
        raise Conflicting("This video is already optimised.", code="already_optimised", details={"variant_count": count})
    if not domain.is_optimisable(count):
        raise Conflicting("The original has not been uploaded yet.", code="not_uploaded", details={"variant_count": count})
    previous = newest_job(video)
    if previous is not None and previous.state in (states.QUEUED, states.RUNNING):
        raise Conflicting(
            "An optimisation job for this video is already queued or running.",
            code="already_queued",
            details={"job_id": previous.job_id, "state": previous.state},
        )
    job, created = queue_optimisation(video, previous, "admin")
    if not created:
        raise Conflicting(
            "An optimisation job for this video was just queued.",
            code="already_queued",
            details={"job_id": job.job_id, "state": job.state},
        )
    logger.info("video optimisation queued", extra={"video_id": video.id, "job_id": job.job_id})
    return job


def newest_jobs(videos: list[Video]) -> dict[str, Job]:
    """``video_id → newest job`` for a page of videos, by one batch read of their remembered jobs."""
    ids = {v.last_job_id for v in videos if v.last_job_id}
    jobs = {j.job_id: j for j in Job.batch_get(list(ids))} if ids else {}
    return {v.id: jobs[v.last_job_id] for v in videos if v.last_job_id in jobs}
