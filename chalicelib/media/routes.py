"""HTTP routes of the media capability: homework and video uploads, Admin > Insights > Media (thin)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core import audit
from chalicelib.core.api import Reply, Req, route, schemas
from chalicelib.core.db import iso
from chalicelib.core.errors import ApiError
from chalicelib.media import domain, multipart, objects, service, store
from chalicelib.media.store import Homework, Video
from chalicelib.students import store as students

bp = Blueprint(__name__)
S = schemas("chalicelib.media.schemas")  # the models, imported on first use


# --- models ------------------------------------------------------------------------------------


HomeworkPage = S.page("HomeworkOut")
VideoPage = S.page("VideoOut")


def homework_out(hw: Homework) -> S.HomeworkOut:
    uploaded = hw.status == domain.UPLOADED
    return S.HomeworkOut(
        id=hw.id,
        student_id=hw.student_id,
        customer_id=hw.customer_id,
        filename=hw.filename,
        content_type=hw.content_type,
        size_bytes=int(hw.size_bytes),
        status=hw.status,
        created_at=iso(hw.created_at) or "",
        uploaded_at=iso(hw.uploaded_at),
        download_url=objects.presigned_get(hw.key, hw.filename) if uploaded else None,
    )


def video_out(v: Video, job: dict[str, Any] | None) -> S.VideoOut:
    count = int(v.variant_count or 0)
    variants = [
        S.VariantOut(
            name=x.name,
            key=x.key,
            size_bytes=int(x.size_bytes),
            width=int(x.width) if x.width is not None else None,
            height=int(x.height) if x.height is not None else None,
            duration_s=float(x.duration_s) if x.duration_s is not None else None,
            url=objects.presigned_get(x.key),
        )
        for x in v.variants or []
    ]
    return S.VideoOut(
        id=v.id,
        student_id=v.student_id,
        customer_id=v.customer_id,
        filename=v.filename,
        content_type=v.content_type,
        size_bytes=int(v.size_bytes),
        status=v.status,
        variants=variants,
        variant_count=count,
        optimisable=domain.is_optimisable(count),
        job=job,
        poster_url=objects.presigned_get(v.poster_key),
        created_at=iso(v.created_at) or "",
        updated_at=iso(v.updated_at) or "",
    )


def _video_detail(v: Video) -> S.VideoOut:
    job = service.current_job(v)
    return video_out(v, job.to_dict() if job else None)


def _video_page(items: list[Video], token: str | None) -> dict[str, Any]:
    jobs = service.job_summaries(items)
    return {"items": [video_out(v, jobs.get(v.id)).model_dump(mode="json") for v in items], "next_token": token}


def _homework_page(items: list[Homework], token: str | None) -> dict[str, Any]:
    return {"items": [homework_out(h).model_dump(mode="json") for h in items], "next_token": token}


def _customer_scope(req: Req, student_id: str | None) -> str:
    """The signed-in customer's id, once a ``student_id`` filter is known to be one of theirs (404 otherwise)."""
    customer_id = str(req.principal.id)
    if student_id:
        students.get_owned(student_id, customer_id)
    return customer_id


# --- homework ----------------------------------------------------------------------------------


@route(
    bp,
    "/customer/homework",
    "POST",
    auth="customer",
    body=S.UploadIn,
    response=S.HomeworkCreated,
    status=201,
    errors=(404, 429),
    tag="media",
)
def start_homework_upload(req: Req) -> dict[str, Any]:
    """Start a homework upload: a presigned POST for one file (pdf, jpeg, png, heic, docx, txt)."""
    b: S.UploadIn = req.body
    hw, upload = service.start_homework(str(req.principal.id), b.student_id, b.filename, b.content_type, b.size_bytes)
    return {"homework": homework_out(hw).model_dump(mode="json"), "upload": upload}


@route(
    bp, "/customer/homework/{homework_id}/complete", "POST", auth="customer", response=S.HomeworkOut, errors=(409,), tag="media"
)
def complete_homework_upload(req: Req, homework_id: str) -> S.HomeworkOut:
    """Confirm an upload: 200 once the object exists with the declared size and type; 409 if not."""
    return homework_out(service.complete_homework(homework_id, str(req.principal.id)))


@route(bp, "/customer/homework", "GET", auth="customer", query=S.HomeworkQuery, response=HomeworkPage, errors=(404,), tag="media")
def list_my_homework(req: Req) -> dict[str, Any]:
    """The signed-in customer's homework, newest first (optionally one student's)."""
    q: S.HomeworkQuery = req.query
    customer_id = _customer_scope(req, q.student_id)
    return _homework_page(*store.list_homework(q.limit, q.next_token, customer_id=customer_id, student_id=q.student_id))


@route(bp, "/customer/homework/{homework_id}", "GET", auth="customer", response=S.HomeworkOut, tag="media")
def get_my_homework(req: Req, homework_id: str) -> S.HomeworkOut:
    """One of the customer's homework uploads (with a short-lived download link once uploaded)."""
    return homework_out(store.get_homework(homework_id, str(req.principal.id)))


@route(bp, "/admin/homework", "GET", auth="admin", query=S.HomeworkQuery, response=HomeworkPage, tag="media")
def list_homework(req: Req) -> dict[str, Any]:
    """Every homework upload, newest first (filter by student)."""
    q: S.HomeworkQuery = req.query
    return _homework_page(*store.list_homework(q.limit, q.next_token, student_id=q.student_id))


# --- videos ------------------------------------------------------------------------------------


@route(
    bp,
    "/customer/videos",
    "POST",
    auth="customer",
    body=S.VideoUploadIn,
    response=S.VideoCreated,
    status=201,
    errors=(404, 429),
    tag="media",
)
def start_video_upload(req: Req) -> dict[str, Any]:
    """Start a video proof upload (mp4, mov, webm, mkv): one presigned POST, or a resumable multipart upload."""
    b: S.VideoUploadIn = req.body
    args = (str(req.principal.id), b.student_id, b.filename, b.content_type, b.size_bytes)
    if b.multipart:
        video, session = multipart.start(*args)
        return {"video": video_out(video, None).model_dump(mode="json"), "upload": None, "multipart": session}
    video, upload = service.start_video(*args)
    return {"video": video_out(video, None).model_dump(mode="json"), "upload": upload, "multipart": None}


@route(
    bp,
    "/customer/videos/{video_id}/parts",
    "POST",
    auth="customer",
    body=S.PartsIn,
    response=S.PartUrls,
    errors=(409,),
    tag="media",
)
def sign_video_parts(req: Req, video_id: str) -> dict[str, Any]:
    """Presigned UploadPart URLs for some parts of a multipart upload (a batch of ≤ 100)."""
    return multipart.sign(store.get_video(video_id, str(req.principal.id)), req.body.part_numbers)


@route(bp, "/customer/videos/{video_id}/parts", "GET", auth="customer", response=S.PartsOut, errors=(409,), tag="media")
def list_video_parts(req: Req, video_id: str) -> dict[str, Any]:
    """The parts S3 already holds (ListParts): a reloaded page or another device resumes from here."""
    return multipart.parts(store.get_video(video_id, str(req.principal.id)))


@route(bp, "/customer/videos/{video_id}/upload", "DELETE", auth="customer", response=S.CancelledOut, errors=(409,), tag="media")
def cancel_video_upload(req: Req, video_id: str) -> dict[str, Any]:
    """Cancel an upload that has not completed: the multipart upload is aborted and the video removed."""
    return {"cancelled": multipart.cancel(store.get_video(video_id, str(req.principal.id)))}


@route(
    bp,
    "/customer/videos/{video_id}/complete",
    "POST",
    auth="customer",
    response=S.VideoOut,
    status=202,
    errors=(409,),
    tag="media",
)
def complete_video_upload(req: Req, video_id: str) -> S.VideoOut:
    """Confirm a video upload: records the original variant and queues its optimisation (202)."""
    video, job = service.complete_video(video_id, str(req.principal.id))
    return video_out(video, job.to_dict() if job else None)


@route(bp, "/customer/videos", "GET", auth="customer", query=S.MediaQuery, response=VideoPage, errors=(404,), tag="media")
def list_my_videos(req: Req) -> dict[str, Any]:
    """The signed-in customer's videos, newest first."""
    q: S.MediaQuery = req.query
    customer_id = _customer_scope(req, q.student_id)
    items, token = store.list_videos(
        q.limit, q.next_token, customer_id=customer_id, student_id=q.student_id, optimisable=q.optimisable
    )
    return _video_page(items, token)


@route(bp, "/customer/videos/{video_id}", "GET", auth="customer", response=S.VideoOut, tag="media")
def get_my_video(req: Req, video_id: str) -> S.VideoOut:
    """One of the customer's own videos with its variants and job."""
    return _video_detail(store.get_video(video_id, str(req.principal.id)))


@route(bp, "/admin/media", "GET", auth="admin", query=S.MediaQuery, response=VideoPage, tag="media")
def list_media(req: Req) -> dict[str, Any]:
    """Admin > Insights > Media: videos newest first; ``optimisable`` filters by variant count."""
    q: S.MediaQuery = req.query
    items, token = store.list_videos(q.limit, q.next_token, student_id=q.student_id, optimisable=q.optimisable)
    return _video_page(items, token)


@route(bp, "/admin/media/{video_id}", "GET", auth="admin", response=S.VideoOut, tag="media")
def get_media(req: Req, video_id: str) -> S.VideoOut:
    """One video with its variants, eligibility and newest job."""
    return _video_detail(store.get_video(video_id))


@route(bp, "/admin/media/{video_id}/optimise", "POST", auth="admin", response=S.JobQueued, status=202, errors=(409,), tag="media")
def optimise_media(req: Req, video_id: str) -> Reply:
    """Queue the 720p optimisation: 202 when eligible and idle; 409 already_optimised / already_queued."""
    target = f"video:{video_id}"
    try:
        job = service.request_optimisation(video_id)
    except ApiError as err:
        audit.record(req.actor, "media.optimise", target, {}, {"status": err.status, "code": err.code})
        raise
    audit.record(req.actor, "media.optimise", target, {}, {"status": 202, "job_id": job.job_id})
    return Reply({"job_id": job.job_id}, status=202)
