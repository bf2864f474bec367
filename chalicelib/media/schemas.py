"""Request and response models of media/routes.py (imported on first use)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictInt

from chalicelib.schema import ListQuery, Out, Strict
from chalicelib.validators import EntityId, QueryBool


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


class HomeworkOut(Out):
    id: str
    student_id: str
    customer_id: str
    filename: str
    content_type: str
    size_bytes: int
    status: Literal["awaiting_upload", "uploaded"]
    created_at: str
    uploaded_at: str | None = None
    download_url: str | None = Field(None, description="Short-lived (5 min) link, once uploaded.")


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


class VideoOut(Out):
    id: str
    student_id: str
    customer_id: str
    filename: str
    content_type: str
    size_bytes: int
    status: Literal["awaiting_upload", "uploaded"]
    variants: list[VariantOut]
    variant_count: int
    optimisable: bool
    job: dict[str, Any] | None = None
    poster_url: str | None = None
    created_at: str
    updated_at: str


class VideoCreated(Out):
    video: VideoOut
    upload: UploadOut


class JobQueued(Out):
    job_id: str


class HomeworkQuery(ListQuery):
    student_id: EntityId | None = Field(None, description="Only this student's homework.")


class MediaQuery(ListQuery):
    optimisable: QueryBool | None = Field(None, description="true: original only; false: already optimised.")
    student_id: EntityId | None = Field(None, description="Only this student's videos.")
