"""The store for S3 objects (the media service's bucket access): presigned POSTs and GETs, the checks
``complete`` makes, the verified copy, and the multipart calls of resumable uploads.

A presigned POST is bound to one key, the declared content type and exactly the declared size
(``content-length-range``). Emulators do not enforce POST policies (moto accepts anything), so
:func:`verify_upload` re-checks what arrived with HeadObject and a 64-byte ranged GET, and deletes
the object when the upload lied. A verified homework upload is then copied to a key no presigned POST
targets (:func:`copy_verified`), so a later POST to the upload key cannot change what was kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.db import iso, utcnow
from chalicelib.core.errors import Conflicting, Invalid
from chalicelib.core.observability import logger, metrics
from chalicelib.core.settings import get_settings
from chalicelib.media import domain

UPLOAD_EXPIRES_S = 3600  # a 2 GiB video on a slow line needs a while
DOWNLOAD_EXPIRES_S = 300  # short-lived download links


@dataclass(frozen=True)
class UploadedObject:
    size_bytes: int
    content_type: str
    etag: str | None


def presigned_post(key: str, content_type: str, size_bytes: int, expires_s: int = UPLOAD_EXPIRES_S) -> dict[str, Any]:
    """``{url, fields, expires_at, max_bytes}`` for one browser POST of exactly ``size_bytes`` to ``key``."""
    post = aws.client("s3").generate_presigned_post(
        Bucket=get_settings().bucket_name,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", size_bytes, size_bytes]],
        ExpiresIn=expires_s,
    )
    return {
        "url": post["url"],
        "fields": post["fields"],
        "expires_at": iso(utcnow() + timedelta(seconds=expires_s)),
        "max_bytes": size_bytes,
    }


def presigned_get(
    key: str | None,
    filename: str | None = None,
    expires_s: int = DOWNLOAD_EXPIRES_S,
    *,
    disposition: str | None = None,
    content_type: str | None = None,
) -> str | None:
    """A presigned GET (≤ 5 min). ``filename``: an attachment of that name; ``disposition``: that header
    instead (e.g. ``inline``); ``content_type``: the Content-Type S3 answers with. S3 serves Range requests (206)."""
    if not key:
        return None
    params: dict[str, Any] = {"Bucket": get_settings().bucket_name, "Key": key}
    if disposition:
        params["ResponseContentDisposition"] = disposition
    elif filename:
        params["ResponseContentDisposition"] = domain.disposition("", filename, inline=False)
    if content_type:
        params["ResponseContentType"] = content_type
    return str(aws.client("s3").generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s))


def delete(key: str) -> None:
    """Best effort: a failed delete leaves an unreferenced object behind (logged), never a failed request."""
    try:
        aws.client("s3").delete_object(Bucket=get_settings().bucket_name, Key=key)
    except ClientError:
        logger.warning("could not delete object", extra={"key": key}, exc_info=True)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def no_such_key(exc: ClientError) -> bool:
    """S3 answered that the key does not exist."""
    return _code(exc) in ("404", "NoSuchKey", "NotFound")


def _missing(key: str) -> Conflicting:
    return Conflicting(
        "The file has not been uploaded yet: POST it to the upload URL first.", code="upload_missing", details={"key": key}
    )


def _same_etag(a: str | None, b: str | None) -> bool:
    return bool(a and b) and str(a).strip('"') == str(b).strip('"')


def copy_verified(src: str, dst: str, etag: str) -> str:
    """Server-side copy of exactly the bytes that were verified (``CopySourceIfMatch=etag``); the copy's ETag.

    ``src`` replaced since it was verified → S3 refuses the copy (412) → 409 ``upload_changed``: nothing is
    kept, and the next ``complete`` verifies the new file. ``src`` gone → 409 ``upload_missing``.
    Emulators ignore the precondition, so with SSE-S3 (or none), where an ETag is the MD5 of the bytes, the
    copy's ETag must equal ``etag`` too, or the copy is deleted (SSE-KMS ETags differ per copy: S3 alone then).
    One CopyObject call handles up to 5 GB, the same limit as a presigned POST, so it never binds first.
    """
    bucket = get_settings().bucket_name
    try:
        out = aws.client("s3").copy_object(
            Bucket=bucket,
            Key=dst,
            CopySource={"Bucket": bucket, "Key": src},
            CopySourceIfMatch=etag,
            MetadataDirective="COPY",
        )
    except ClientError as exc:
        if _code(exc) in ("PreconditionFailed", "412"):
            raise _changed(src) from exc
        if no_such_key(exc):
            raise _missing(src) from exc
        raise
    copied = str(out.get("CopyObjectResult", {}).get("ETag") or "")
    if out.get("ServerSideEncryption") in (None, "AES256") and not _same_etag(copied, etag):
        delete(dst)
        raise _changed(src)
    return copied or etag


def _changed(src: str) -> Conflicting:
    metrics.add_metric(name="UploadChangedDuringComplete", unit="Count", value=1)
    return Conflicting(
        "The file was replaced while it was being checked; nothing was recorded. Complete the upload again.",
        code="upload_changed",
        details={"key": src},
    )


def keys_under(prefix: str) -> list[str]:
    """Keys under ``prefix``, newest first (one ListObjectsV2 page: callers use prefixes with a handful of keys)."""
    listed = aws.client("s3").list_objects_v2(Bucket=get_settings().bucket_name, Prefix=prefix, MaxKeys=100)
    items = sorted(listed.get("Contents", []), key=lambda o: o["LastModified"], reverse=True)
    return [o["Key"] for o in items]


def verify_upload(key: str, declared_type: str, declared_size: int) -> UploadedObject:
    """The object exists with the declared size and type, and its first bytes match the type.

    Missing → 409 ``upload_missing`` (nothing deleted). A size or type lie → the object is deleted and
    409 ``upload_size_mismatch`` / 400 ``upload_type_mismatch``: the customer must upload again.
    """
    s3 = aws.client("s3")
    bucket = get_settings().bucket_name
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if no_such_key(exc):
            raise _missing(key) from exc
        raise
    size = int(head["ContentLength"])
    ctype = str(head.get("ContentType") or "").split(";")[0].strip().lower()
    if size != declared_size:
        delete(key)
        metrics.add_metric(name="UploadRefused", unit="Count", value=1)
        raise Conflicting(
            f"The uploaded file is {size} bytes, not the declared {declared_size}; it was discarded. Start a new upload.",
            code="upload_size_mismatch",
            details={"declared_bytes": declared_size, "uploaded_bytes": size},
        )
    sample = b""
    if size:
        sample = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-63")["Body"].read(64)
    if ctype != declared_type or not domain.sniff_ok(declared_type, sample):
        delete(key)
        metrics.add_metric(name="UploadRefused", unit="Count", value=1)
        raise Invalid(
            f"The uploaded file is not a {declared_type} file; it was discarded. Start a new upload.",
            code="upload_type_mismatch",
            details={"declared_type": declared_type, "uploaded_type": ctype or None},
        )
    return UploadedObject(size_bytes=size, content_type=ctype, etag=head.get("ETag"))


# --- multipart uploads (resumable video uploads) ------------------------------------------------

PART_URL_EXPIRES_S = 3600  # a batch of part URLs; the page asks for more as it goes
MAX_LIST_PARTS_CALLS = 10  # 10 x 1,000 parts: S3's 10,000-part limit, never an unbounded loop


def _presigner() -> Any:
    """S3 client that presigns with SigV4: the signature covers the query string, so a part URL is bound
    to its key, ``uploadId`` and ``partNumber`` (changing either makes S3 refuse it: 403 SignatureDoesNotMatch)."""
    return _presigner_of(aws._session())  # follows aws.reset(), like every other client


@functools.cache
def _presigner_of(session: Any) -> Any:
    from botocore.config import Config

    return session.client("s3", region_name=get_settings().region, config=Config(signature_version="s3v4"))


class UploadGone(Exception):
    """S3 has no multipart upload with that id (completed, aborted, or expired by the lifecycle rule)."""


def _no_upload(exc: ClientError) -> bool:
    return _code(exc) in ("NoSuchUpload", "404")


def start_multipart(key: str, content_type: str) -> str:
    out = aws.client("s3").create_multipart_upload(Bucket=get_settings().bucket_name, Key=key, ContentType=content_type)
    return str(out["UploadId"])


def presigned_part(key: str, upload_id: str, part_number: int, expires_s: int = PART_URL_EXPIRES_S) -> str:
    params = {"Bucket": get_settings().bucket_name, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
    return str(_presigner().generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_s))


def list_parts(key: str, upload_id: str) -> dict[int, dict[str, Any]]:
    """``{part_number: {"size_bytes", "etag"}}`` of what S3 holds for the upload (bounded pages). UploadGone if none."""
    s3, bucket = aws.client("s3"), get_settings().bucket_name
    parts: dict[int, dict[str, Any]] = {}
    marker = 0
    for _ in range(MAX_LIST_PARTS_CALLS):
        try:
            out = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker, MaxParts=1000)
        except ClientError as exc:
            if _no_upload(exc):
                raise UploadGone(upload_id) from exc
            raise
        for p in out.get("Parts", []):
            parts[int(p["PartNumber"])] = {"size_bytes": int(p["Size"]), "etag": str(p["ETag"])}
        if not out.get("IsTruncated"):
            break
        marker = int(out["NextPartNumberMarker"])
    return parts


def complete_multipart(key: str, upload_id: str, parts: dict[int, dict[str, Any]]) -> None:
    """Assemble the parts S3 listed (their ETags), in order. UploadGone if already completed or aborted."""
    listed = [{"PartNumber": n, "ETag": parts[n]["etag"]} for n in sorted(parts)]
    try:
        aws.client("s3").complete_multipart_upload(
            Bucket=get_settings().bucket_name, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
        )
    except ClientError as exc:
        if _no_upload(exc):
            raise UploadGone(upload_id) from exc
        raise


def abort_multipart(key: str, upload_id: str) -> bool:
    """Abort (S3 deletes the parts). True if it was there to abort; idempotent."""
    try:
        aws.client("s3").abort_multipart_upload(Bucket=get_settings().bucket_name, Key=key, UploadId=upload_id)
        return True
    except ClientError as exc:
        if _no_upload(exc):
            return False
        raise


def exists(key: str) -> bool:
    try:
        aws.client("s3").head_object(Bucket=get_settings().bucket_name, Key=key)
        return True
    except ClientError as exc:
        if no_such_key(exc):
            return False
        raise
