"""Resumable video uploads: S3 multipart, driven by the customer's browser.

``start`` creates the S3 multipart upload and the video row (its ``upload_id``, part size and count);
``sign`` issues presigned ``UploadPart`` URLs in batches, each bound to the key, the upload id and one
part number; ``parts`` lists what S3 already holds (ListParts) so a reloaded page or another device
resumes; ``assemble`` (called by ``complete``) checks every part is there with its planned size and
asks S3 to assemble them, after which ``complete`` verifies the object as for any upload (size, type,
first bytes); ``cancel`` aborts. A size lie aborts the upload (S3 deletes the parts) and removes the
row; a lie found in the assembled object (its type) deletes the object and the row. Abandoned uploads
are aborted by the bucket's lifecycle rule (one day after initiation) and by ``academy doctor``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.core.db import iso, new_id, utcnow
from chalicelib.core.errors import ApiError, Conflict, ValidationFailed
from chalicelib.core.observability import logger, metrics
from chalicelib.core.settings import get_settings
from chalicelib.media import domain, objects, quota, service, store
from chalicelib.media.store import Video
from chalicelib.students import store as students

UPLOAD_LIFETIME = timedelta(days=1)  # the bucket's AbortIncompleteMultipartUpload rule (infra/template.py)


def plan_of(video: Video) -> domain.PartPlan:
    return domain.PartPlan(int(video.size_bytes), int(video.part_size), int(video.part_count))


def _require_multipart(video: Video) -> str:
    if video.status == domain.UPLOADED:
        raise Conflict("This video is already uploaded.", code="already_uploaded", details={"video_id": video.id})
    if not video.upload_id:
        raise Conflict(
            "This video was started as a single upload, not a multipart one.",
            code="not_multipart",
            details={"video_id": video.id},
        )
    return str(video.upload_id)


def session(video: Video) -> dict[str, Any]:
    return {
        "upload_id": video.upload_id,
        "part_size": int(video.part_size),
        "part_count": int(video.part_count),
        "expires_at": iso(video.created_at + UPLOAD_LIFETIME),
    }


def start(customer_id: str, student_id: str, filename: str, content_type: str, size_bytes: int) -> tuple[Video, dict[str, Any]]:
    """The video row and its S3 multipart upload, plus the first batch of part URLs."""
    service._safe_customer(customer_id)
    students.get_owned(student_id, customer_id)
    content_type = content_type.lower()
    ext = service._check_declared(filename, content_type, size_bytes, domain.VIDEO_TYPES, get_settings().video_max_bytes)
    quota.reserve(customer_id, size_bytes, "videos")  # the same daily count and bytes as a single-POST upload
    plan = domain.part_plan(size_bytes)
    video_id = new_id()
    key = store.original_key(customer_id, student_id, video_id, ext, multipart=True)
    upload_id = objects.start_multipart(key, content_type)
    fields = {"upload_id": upload_id, "part_size": plan.part_size, "part_count": plan.part_count}
    try:
        video = store.create_video(
            customer_id, student_id, filename, content_type, size_bytes, ext, video_id=video_id, multipart=fields
        )
    except Exception:
        objects.abort_multipart(key, upload_id)  # no row: nothing would ever complete or abort it
        raise
    first = list(range(1, min(plan.part_count, domain.PART_URL_BATCH) + 1))
    return video, {**session(video), **sign(video, first)}


def sign(video: Video, part_numbers: list[int]) -> dict[str, Any]:
    """Presigned ``UploadPart`` URLs for these part numbers of this video's upload (≤ one batch)."""
    upload_id = _require_multipart(video)
    plan = plan_of(video)
    bad = [n for n in part_numbers if not 1 <= n <= plan.part_count]
    if bad:
        raise ValidationFailed(
            f"Part numbers run from 1 to {plan.part_count}.",
            details={"fields": {"part_numbers": f"out of range: {bad[:10]}"}},
        )
    expires_s = objects.PART_URL_EXPIRES_S
    urls = [
        {"part_number": n, "size_bytes": plan.part_bytes(n), "url": objects.presigned_part(video.original_key, upload_id, n)}
        for n in sorted(set(part_numbers))
    ]
    return {"parts": urls, "urls_expire_at": iso(utcnow() + timedelta(seconds=expires_s))}


def parts(video: Video) -> dict[str, Any]:
    """What S3 already holds (ListParts), so an interrupted upload resumes where it stopped."""
    upload_id = _require_multipart(video)
    try:
        held = objects.list_parts(video.original_key, upload_id)
    except objects.UploadGone as exc:
        raise _gone(video) from exc
    plan = plan_of(video)
    missing, wrong = domain.check_parts(plan, {n: p["size_bytes"] for n, p in held.items()})
    return {
        **session(video),
        "parts": [{"part_number": n, "size_bytes": p["size_bytes"], "etag": p["etag"]} for n, p in sorted(held.items())],
        "missing": missing,
        "wrong_size": wrong,
        "uploaded_bytes": sum(p["size_bytes"] for n, p in held.items() if n not in wrong),
    }


def _gone(video: Video) -> Conflict:
    return Conflict(
        "This upload no longer exists (cancelled, or abandoned for more than a day). Start a new upload.",
        code="upload_expired",
        details={"video_id": video.id},
    )


def assemble(video: Video) -> None:
    """Before ``complete`` verifies the original: every part present with its planned size → S3 assembles.

    Parts missing → 409 ``upload_incomplete`` (nothing changes: upload them and complete again). A part of
    the wrong size is a lie about the file → the upload is aborted (S3 deletes the parts), the video row
    removed, 409 ``upload_size_mismatch``. Already assembled (a repeated or concurrent complete, or one
    that died after S3 assembled) → nothing to do; ``complete`` verifies the object.
    """
    upload_id = _require_multipart(video)
    try:
        held = objects.list_parts(video.original_key, upload_id)
    except objects.UploadGone as exc:
        if objects.exists(video.original_key):
            return
        raise _gone(video) from exc
    plan = plan_of(video)
    missing, wrong = domain.check_parts(plan, {n: p["size_bytes"] for n, p in held.items()})
    if wrong:
        uploaded = sum(p["size_bytes"] for p in held.values())
        objects.abort_multipart(video.original_key, upload_id)
        store.delete_awaiting(video)
        metrics.add_metric(name="UploadRefused", unit="Count", value=1)
        logger.warning("multipart upload refused: part sizes", extra={"video_id": video.id, "wrong_parts": wrong[:20]})
        raise Conflict(
            f"Parts {wrong[:10]} do not have their planned sizes: the file is not the declared {plan.size_bytes} bytes. "
            "It was discarded; start a new upload.",
            code="upload_size_mismatch",
            details={"declared_bytes": plan.size_bytes, "uploaded_bytes": uploaded, "wrong_parts": wrong[:100]},
        )
    if missing:
        raise Conflict(
            f"{len(missing)} of {plan.part_count} parts are not uploaded yet.",
            code="upload_incomplete",
            details={"missing": missing[:100], "missing_count": len(missing), "part_count": plan.part_count},
        )
    try:
        objects.complete_multipart(video.original_key, upload_id, held)
    except objects.UploadGone as exc:  # a concurrent complete assembled it first
        if not objects.exists(video.original_key):
            raise _gone(video) from exc
    try:  # what S3 assembled is what was declared (``complete`` verifies again, cheaply, before recording)
        objects.verify_upload(video.original_key, video.content_type, int(video.size_bytes))
    except ApiError as err:
        if err.code in ("upload_size_mismatch", "upload_type_mismatch"):  # the object is deleted: so is the video
            store.delete_awaiting(video)
        raise


def cancel(video: Video) -> bool:
    """Abort the upload (S3 deletes the parts) and remove the video that never arrived. Idempotent."""
    if video.status == domain.UPLOADED:
        raise Conflict("This video is already uploaded; it cannot be cancelled.", code="already_uploaded")
    if video.upload_id:
        objects.abort_multipart(video.original_key, str(video.upload_id))
    if objects.exists(video.original_key):  # a single upload that arrived but was never completed
        objects.delete(video.original_key)
    return store.delete_awaiting(video)
