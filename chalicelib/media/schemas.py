"""Request and response models of media/routes.py (imported on first use)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt

from chalicelib.core.schema import ListQuery, Out, Strict
from chalicelib.core.validators import CalendarDate, EntityId, QueryBool


class UploadIn(Strict):
    student_id: EntityId
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=255)
    size_bytes: StrictInt = Field(ge=1, description="Exact size of the file to upload, in bytes.")


class UploadOut(Out):
    url: str
    fields: dict[str, str]
    expires_at: str
    max_bytes: int


class _FileOut(Out):
    """What every uploaded file's answer starts with (homework and videos)."""

    id: str
    student_id: str
    customer_id: str
    filename: str
    content_type: str
    size_bytes: int
    status: Literal["awaiting_upload", "uploaded"]


HomeworkStatus = Literal["awaiting_upload", "uploaded", "reviewed"]  # media.domain.HOMEWORK_STATUSES


class ReviewOut(Out):
    feedback: str
    reviewer: str
    at: str


class HomeworkOut(_FileOut):
    status: HomeworkStatus  # type: ignore[assignment]  # a homework can also be reviewed
    rev: int = Field(0, description="Send it back with a review (409 stale_revision if the homework moved on).")
    created_at: str
    uploaded_at: str | None = None
    download_url: str | None = Field(None, description="Short-lived (5 min) link, once uploaded.")
    feedback: str | None = Field(None, description="The latest review's feedback, once reviewed.")
    reviewed_at: str | None = None
    reviews: list[ReviewOut] = Field(default_factory=list, description="Every review kept, oldest first (bounded).")


class ReviewIn(Strict):
    feedback: str = Field(min_length=1, max_length=4000, description="Written feedback the customer sees.")
    rev: StrictInt = Field(ge=0, description="The homework's rev as read (409 stale_revision if it moved on).")


class AdminHomeworkQuery(ListQuery):
    student_id: EntityId | None = Field(None, description="Only this student's homework.")
    status: HomeworkStatus | None = Field(
        None, description="Only this status. Without it: uploaded (unreviewed) first, then reviewed, then awaiting_upload."
    )
    from_: CalendarDate | None = Field(None, alias="from", description="Created on or after this date (UTC).")
    to: CalendarDate | None = Field(None, description="Created on or before this date (UTC).")


class FileLink(Out):
    url: str = Field(description="Presigned S3 GET; it serves Range requests (206).")
    expires_in: int = Field(description="Seconds the link stays valid (≤ 300).")
    disposition: Literal["inline", "attachment"]
    content_type: str
    filename: str


class PlaybackOut(Out):
    url: str = Field(description="Presigned S3 GET of the variant to play; it serves Range requests (206).")
    poster_url: str | None = None
    variant: Literal["720p", "original"]
    content_type: str
    expires_in: int


class HomeworkCreated(Out):
    homework: HomeworkOut
    upload: UploadOut


class VariantOut(Out):
    name: str
    key: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    url: str | None = Field(None, description="Short-lived (5 min) download link.")


class VideoOut(_FileOut):
    variants: list[VariantOut]
    variant_count: int
    optimisable: bool
    job: dict[str, Any] | None = None
    poster_url: str | None = None
    created_at: str
    updated_at: str


class VideoUploadIn(UploadIn):
    multipart: StrictBool = Field(
        False, description="True: a resumable S3 multipart upload (part URLs in batches) instead of one presigned POST."
    )


class PartUrl(Out):
    part_number: int
    size_bytes: int = Field(description="Exact size this part must have.")
    url: str = Field(description="Presigned S3 UploadPart URL: PUT the part's bytes to it.")


class MultipartOut(Out):
    upload_id: str
    part_size: int
    part_count: int
    expires_at: str = Field(description="Uploads not completed by then are aborted by the bucket's lifecycle rule.")
    parts: list[PartUrl] = Field(description="The first batch of part URLs.")
    urls_expire_at: str


class VideoCreated(Out):
    video: VideoOut
    upload: UploadOut | None = Field(None, description="The presigned POST of a single upload.")
    multipart: MultipartOut | None = Field(None, description="The multipart upload, when asked for.")


class PartsIn(Strict):
    part_numbers: list[StrictInt] = Field(min_length=1, max_length=100, description="Parts to sign (1..part_count).")


class PartUrls(Out):
    parts: list[PartUrl]
    urls_expire_at: str


class UploadedPart(Out):
    part_number: int
    size_bytes: int
    etag: str


class PartsOut(Out):
    upload_id: str
    part_size: int
    part_count: int
    expires_at: str
    parts: list[UploadedPart] = Field(description="What S3 already holds (ListParts).")
    missing: list[int]
    wrong_size: list[int]
    uploaded_bytes: int


class CancelledOut(Out):
    cancelled: bool


class JobQueued(Out):
    job_id: str


class HomeworkQuery(ListQuery):
    student_id: EntityId | None = Field(None, description="Only this student's homework.")


class MediaQuery(ListQuery):
    optimisable: QueryBool | None = Field(None, description="true: original only; false: already optimised.")
    student_id: EntityId | None = Field(None, description="Only this student's videos.")
