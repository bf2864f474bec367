"""HTTP routes of the media capability: homework and video uploads, Admin > Insights > Media.

Thin: parse (the route declaration), call the service, serialise (the serialisers are the first section).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.core.api import Audit, Reply, Req, route, schemas
from chalicelib.core.db import iso
from chalicelib.media import domain, multipart, objects, service, store
from chalicelib.media.store import Homework, Video

if TYPE_CHECKING:
    from chalicelib.jobs.ledger import Job
    from chalicelib.media.schemas import (
        AdminHomeworkQuery,
        HomeworkOut,
        HomeworkQuery,
        MediaQuery,
        PartsIn,
        ReviewIn,
        UploadIn,
        VideoOut,
        VideoUploadIn,
    )

bp = Blueprint(__name__)
S = schemas("chalicelib.media.schemas")  # the models, imported on first use

HomeworkPage = S.page("HomeworkOut")
VideoPage = S.page("VideoOut")


# --- serialisers -------------------------------------------------------------------------------


def homework_out(hw: Homework) -> HomeworkOut:
    uploaded = hw.status in domain.SUBMITTED
    reviews = [S.ReviewOut(feedback=r.feedback, reviewer=r.reviewer, at=iso(r.at) or "") for r in hw.reviews or []]
    out: HomeworkOut = S.HomeworkOut(
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
        rev=int(hw.rev or 0),
        feedback=reviews[-1].feedback if reviews else None,
        reviewed_at=iso(hw.reviewed_at),
        reviews=reviews,
    )
    return out


def video_out(v: Video, job: Job | None = None) -> VideoOut:
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
    out: VideoOut = S.VideoOut(
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
        job=job.to_dict() if job else None,
        poster_url=objects.presigned_get(v.poster_key),
        created_at=iso(v.created_at) or "",
        updated_at=iso(v.updated_at) or "",
    )
    return out


def _video_detail(v: Video) -> VideoOut:
    return video_out(v, service.current_job(v))


def _video_page(items: list[Video], token: str | None) -> dict[str, Any]:
    jobs = service.newest_jobs(items)
    return {"items": [video_out(v, jobs.get(v.id)).model_dump(mode="json") for v in items], "next_token": token}


def _homework_page(items: list[Homework], token: str | None) -> dict[str, Any]:
    return {"items": [homework_out(h).model_dump(mode="json") for h in items], "next_token": token}


# --- the shape every upload's routes share -------------------------------------------------------


def _start_route(path: str, body: Any, response: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``POST <path>``: a customer starts an upload (201; 404 for someone else's student, 429 over quota)."""
    return route(bp, path, "POST", auth="customer", body=body, response=response, status=201, errors=(404, 429), tag="media")


def _step_route(
    path: str, method: str, response: Any, *, body: Any = None, status: int = 200, id_name: str = "video_id"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A step of the customer's upload in progress (``id_name`` in the path; 409 when its state refuses the step)."""
    return route(
        bp, path, method, auth="customer", body=body, response=response, status=status, errors=(409,), tag="media", ids=(id_name,)
    )


# --- homework ----------------------------------------------------------------------------------


@_start_route("/customer/homework", S.UploadIn, S.HomeworkCreated)
def start_homework_upload(req: Req[UploadIn, None]) -> dict[str, Any]:
    """Start a homework upload: a presigned POST for one file (pdf, jpeg, png, heic, docx, txt)."""
    b = req.body
    hw, upload = service.start_homework(str(req.principal.id), b.student_id, b.filename, b.content_type, b.size_bytes)
    return {"homework": homework_out(hw).model_dump(mode="json"), "upload": upload}


@_step_route("/customer/homework/{homework_id}/complete", "POST", S.HomeworkOut, id_name="homework_id")
def complete_homework_upload(req: Req[None, None], homework_id: str) -> HomeworkOut:
    """Confirm an upload: 200 once the object exists with the declared size and type; 409 if not."""
    return homework_out(service.complete_homework(homework_id, str(req.principal.id)))


@route(bp, "/customer/homework", "GET", auth="customer", query=S.HomeworkQuery, response=HomeworkPage, errors=(404,), tag="media")
def list_my_homework(req: Req[None, HomeworkQuery]) -> dict[str, Any]:
    """The signed-in customer's homework, newest first (optionally one student's)."""
    return _homework_page(*service.list_homework(req.query, str(req.principal.id)))


@route(bp, "/customer/homework/{homework_id}", "GET", auth="customer", response=S.HomeworkOut, tag="media", ids=("homework_id",))
def get_my_homework(req: Req[None, None], homework_id: str) -> HomeworkOut:
    """One of the customer's homework uploads (with a short-lived download link once uploaded)."""
    return homework_out(store.get_homework(homework_id, str(req.principal.id)))


@route(
    bp,
    "/customer/homework/{homework_id}/file",
    "GET",
    auth="customer",
    response=S.FileLink,
    errors=(409,),
    tag="media",
    ids=("homework_id",),
)
def get_my_homework_file(req: Req[None, None], homework_id: str) -> dict[str, Any]:
    """A short-lived (≤ 300 s) link to one's own submitted file: inline for PDF and images, else a download."""
    return service.homework_file(store.get_homework(homework_id, str(req.principal.id)))


@route(bp, "/admin/homework", "GET", auth="admin", query=S.AdminHomeworkQuery, response=HomeworkPage, tag="media")
def list_homework(req: Req[None, AdminHomeworkQuery]) -> dict[str, Any]:
    """Homework to review: unreviewed (uploaded) first, then reviewed, then awaiting upload, each newest first;
    ``status`` lists one status only. Filters: ``student_id``, ``from``/``to`` (creation dates, UTC, inclusive).
    One index query per phase (never a scan); ``next_token`` carries the phase, so just follow it."""
    return _homework_page(*service.list_homework_review(req.query))


@route(bp, "/admin/homework/{homework_id}", "GET", auth="admin", response=S.HomeworkOut, tag="media", ids=("homework_id",))
def get_homework(req: Req[None, None], homework_id: str) -> HomeworkOut:
    """One homework with its review history and ``rev`` (send it back with a review)."""
    return homework_out(store.get_homework(homework_id))


@route(
    bp,
    "/admin/homework/{homework_id}/file",
    "GET",
    auth="admin",
    response=S.FileLink,
    errors=(409,),
    tag="media",
    ids=("homework_id",),
)
def get_homework_file(req: Req[None, None], homework_id: str) -> dict[str, Any]:
    """A short-lived (≤ 300 s) link to the submitted file: inline for PDF and images, else a download; 409 before upload."""
    return service.homework_file(store.get_homework(homework_id))


@route(
    bp,
    "/admin/homework/{homework_id}/review",
    "POST",
    auth="admin",
    body=S.ReviewIn,
    response=S.HomeworkOut,
    errors=(404, 409),
    tag="media",
    audit=Audit("homework.review", target="homework:{homework_id}"),
    ids=("homework_id",),
)
def review_homework(req: Req[ReviewIn, None], homework_id: str) -> HomeworkOut:
    """Mark a submitted homework ``reviewed`` with feedback at the ``rev`` read (409 ``stale_revision`` if it moved
    on; 409 ``homework_not_uploaded`` before its file). A re-review appends to the history the customer sees."""
    hw = service.review_homework(homework_id, req.body.rev, req.body.feedback, str(req.principal.id))
    if req.audit is not None:
        req.audit.result["rev"] = int(hw.rev or 0)
    return homework_out(hw)


# --- videos ------------------------------------------------------------------------------------


@_start_route("/customer/videos", S.VideoUploadIn, S.VideoCreated)
def start_video_upload(req: Req[VideoUploadIn, None]) -> dict[str, Any]:
    """Start a video proof upload (mp4, mov, webm, mkv): one presigned POST, or a resumable multipart upload."""
    b = req.body
    video, upload, session = service.start_video(
        str(req.principal.id), b.student_id, b.filename, b.content_type, b.size_bytes, resumable=b.multipart
    )
    return {"video": video_out(video).model_dump(mode="json"), "upload": upload, "multipart": session}


@_step_route("/customer/videos/{video_id}/parts", "POST", S.PartUrls, body=S.PartsIn)
def sign_video_parts(req: Req[PartsIn, None], video_id: str) -> dict[str, Any]:
    """Presigned UploadPart URLs for some parts of a multipart upload (a batch of ≤ 100)."""
    return multipart.sign_parts(video_id, str(req.principal.id), req.body.part_numbers)


@_step_route("/customer/videos/{video_id}/parts", "GET", S.PartsOut)
def list_video_parts(req: Req[None, None], video_id: str) -> dict[str, Any]:
    """The parts S3 already holds (ListParts): a reloaded page or another device resumes from here."""
    return multipart.parts(video_id, str(req.principal.id))


@_step_route("/customer/videos/{video_id}/upload", "DELETE", S.CancelledOut)
def cancel_video_upload(req: Req[None, None], video_id: str) -> dict[str, Any]:
    """Cancel an upload that has not completed: the multipart upload is aborted and the video removed."""
    return {"cancelled": multipart.cancel(video_id, str(req.principal.id))}


@_step_route("/customer/videos/{video_id}/complete", "POST", S.VideoOut, status=202)
def complete_video_upload(req: Req[None, None], video_id: str) -> VideoOut:
    """Confirm a video upload: records the original variant and queues its optimisation (202)."""
    return video_out(*service.complete_video(video_id, str(req.principal.id)))


@route(bp, "/customer/videos", "GET", auth="customer", query=S.MediaQuery, response=VideoPage, errors=(404,), tag="media")
def list_my_videos(req: Req[None, MediaQuery]) -> dict[str, Any]:
    """The signed-in customer's videos, newest first."""
    return _video_page(*service.list_videos(req.query, str(req.principal.id)))


@route(bp, "/customer/videos/{video_id}", "GET", auth="customer", response=S.VideoOut, tag="media", ids=("video_id",))
def get_my_video(req: Req[None, None], video_id: str) -> VideoOut:
    """One of the customer's own videos with its variants and job."""
    return _video_detail(store.get_video(video_id, str(req.principal.id)))


@route(
    bp,
    "/customer/videos/{video_id}/play",
    "GET",
    auth="customer",
    response=S.PlaybackOut,
    errors=(409,),
    tag="media",
    ids=("video_id",),
)
def play_my_video(req: Req[None, None], video_id: str) -> dict[str, Any]:
    """What a ``<video>`` plays: the 720p variant once it exists, else the original (presigned, ranged GETs work)."""
    return service.playback(store.get_video(video_id, str(req.principal.id)))


@route(
    bp,
    "/customer/videos/{video_id}/download",
    "GET",
    auth="customer",
    response=S.FileLink,
    errors=(409,),
    tag="media",
    ids=("video_id",),
)
def download_my_video(req: Req[None, None], video_id: str) -> dict[str, Any]:
    """A short-lived link that downloads the original as uploaded (an attachment)."""
    return service.original_download(store.get_video(video_id, str(req.principal.id)))


@route(bp, "/admin/media", "GET", auth="admin", query=S.MediaQuery, response=VideoPage, tag="media")
def list_media(req: Req[None, MediaQuery]) -> dict[str, Any]:
    """Admin > Insights > Media: videos newest first; ``optimisable`` filters by variant count."""
    return _video_page(*service.list_videos(req.query))


@route(bp, "/admin/media/{video_id}", "GET", auth="admin", response=S.VideoOut, tag="media", ids=("video_id",))
def get_media(req: Req[None, None], video_id: str) -> VideoOut:
    """One video with its variants, eligibility and newest job."""
    return _video_detail(store.get_video(video_id))


@route(
    bp, "/admin/media/{video_id}/play", "GET", auth="admin", response=S.PlaybackOut, errors=(409,), tag="media", ids=("video_id",)
)
def play_media(req: Req[None, None], video_id: str) -> dict[str, Any]:
    """What a ``<video>`` plays: the 720p variant once it exists, else the original (presigned, ranged GETs work)."""
    return service.playback(store.get_video(video_id))


@route(
    bp,
    "/admin/media/{video_id}/download",
    "GET",
    auth="admin",
    response=S.FileLink,
    errors=(409,),
    tag="media",
    ids=("video_id",),
)
def download_media(req: Req[None, None], video_id: str) -> dict[str, Any]:
    """A short-lived link that downloads the original as uploaded (an attachment)."""
    return service.original_download(store.get_video(video_id))


@route(
    bp,
    "/admin/media/{video_id}/optimise",
    "POST",
    auth="admin",
    response=S.JobQueued,
    status=202,
    errors=(409,),
    tag="media",
    audit=Audit("media.optimise", target="video:{video_id}", params=False),
    ids=("video_id",),
)
def optimise_media(req: Req[None, None], video_id: str) -> Reply:
    """Queue the 720p optimisation: 202 when eligible and idle; 409 already_optimised / already_queued."""
    job = service.request_optimisation(video_id)
    if req.audit is not None:
        req.audit.result["job_id"] = job.job_id
    return Reply({"job_id": job.job_id}, status=202)
