"""Homework integrity: what ``complete`` verified is what admins download, whatever is POSTed afterwards.

The presigned POST stays valid for 15 minutes after ``complete``; the verified bytes are copied to a key no
POST targets (``.../homework/<id>/submitted-<etag>.<ext>``), so a later POST only makes an unreferenced object.
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from urllib.parse import unquote

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse

from tests.functional.test_media_uploads import PDF, s3_keys, start_homework, student  # noqa: F401 - fixture
from tests.media_support import get, post, upload_form

OTHER = b"%PDF-1.7\n" + b"y" * (len(PDF) - 9)  # a different file, same size, same type: passes every check
assert len(OTHER) == len(PDF) and OTHER != PDF


def _app_s3():
    from chalicelib.core import aws

    return aws.client("s3")


def _bytes(key: str) -> bytes:
    from chalicelib.core.settings import get_settings

    return boto3.client("s3").get_object(Bucket=get_settings().bucket_name, Key=key)["Body"].read()


def _download(url: str) -> bytes:
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    return r.content


def _admin_download(client, tokens, student_id: str, homework_id: str) -> bytes:
    items = get(client, f"/admin/homework?student_id={student_id}", tokens.admin).json_body["items"]
    (hw,) = [h for h in items if h["id"] == homework_id]
    return _download(hw["download_url"])


def _submitted(aws) -> list[str]:
    return [k for k in s3_keys(aws) if "/submitted-" in k]


def _uploaded(client, tokens, student_id: str, data: bytes = PDF) -> tuple[dict, dict]:
    r = start_homework(client, tokens, student_id, data=data)
    hw, upload = r.json_body["homework"], r.json_body["upload"]
    assert upload_form(upload, data) in (200, 204)
    return hw, upload


def _complete(client, tokens, homework_id: str, token: str | None = None):
    return post(client, f"/customer/homework/{homework_id}/complete", token or tokens.customer_a)


@contextmanager
def s3_honours_copy_source_if_match():
    """Make moto refuse a CopyObject whose ``x-amz-copy-source-if-match`` no longer holds, like S3 (412).

    moto 5.2 ignores that header; without this the copy's ETag check in ``copy_verified`` is what refuses.
    """
    from chalicelib.core.settings import get_settings

    s3, refused = _app_s3(), []

    def hook(params, **_):
        want = params["headers"].get("x-amz-copy-source-if-match")
        source = unquote(params["headers"].get("x-amz-copy-source", "")).split("/", 1)
        if not want or len(source) != 2:
            return None
        now = boto3.client("s3").head_object(Bucket=get_settings().bucket_name, Key=source[1])["ETag"]
        if now.strip('"') == want.strip('"'):
            return None
        refused.append(source[1])
        return AWSResponse("https://s3.emulated", 412, {}, None), {
            "Error": {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions you specified did not hold"}
        }

    s3.meta.events.register_first("before-call.s3.CopyObject", hook, unique_id="copy-if-match")
    try:
        yield refused
    finally:
        s3.meta.events.unregister("before-call.s3.CopyObject", unique_id="copy-if-match")


def test_a_post_after_complete_cannot_change_what_admins_download(client, tokens, student, aws):  # noqa: F811
    hw, upload = _uploaded(client, tokens, student)
    done = _complete(client, tokens, hw["id"])
    assert done.status_code == 200 and done.json_body["status"] == "uploaded"
    kept = f"customers/cust-a/students/{student}/homework/{hw['id']}/submitted-{hashlib.md5(PDF).hexdigest()}.pdf"
    assert s3_keys(aws) == [kept]  # the upload object is gone; only the verified copy is kept
    assert _admin_download(client, tokens, student, hw["id"]) == PDF

    assert upload_form(upload, OTHER) in (200, 204)  # the form is still valid for its 15 minutes
    assert sorted(s3_keys(aws)) == sorted([kept, upload["fields"]["key"]])  # an orphan nobody references
    assert _admin_download(client, tokens, student, hw["id"]) == PDF
    assert _download(get(client, f"/customer/homework/{hw['id']}", tokens.customer_a).json_body["download_url"]) == PDF
    again = _complete(client, tokens, hw["id"])  # completing again neither re-verifies nor adopts the orphan
    assert again.status_code == 200 and again.json_body == {**done.json_body, "download_url": again.json_body["download_url"]}
    assert _admin_download(client, tokens, student, hw["id"]) == PDF

    from chalicelib.media import store

    row = store.get_homework(hw["id"])
    assert row.key == kept and row.upload_key == upload["fields"]["key"] and row.etag.strip('"') == hashlib.md5(PDF).hexdigest()
    assert _complete(client, tokens, hw["id"], tokens.customer_b).status_code == 404
    assert get(client, f"/customer/homework/{hw['id']}", tokens.customer_b).status_code == 404


@pytest.mark.parametrize("s3_precondition", [True, False], ids=["s3-refuses-copy", "copy-etag-check"])
def test_a_replacement_between_verify_and_copy_is_409_and_nothing_is_recorded(
    client,
    tokens,
    student,  # noqa: F811
    aws,
    monkeypatch,
    s3_precondition,
):
    from chalicelib.media import objects

    hw, upload = _uploaded(client, tokens, student)
    real_verify = objects.verify_upload

    def verify_then_replace(key, *args):
        checked = real_verify(key, *args)
        if key == upload["fields"]["key"]:
            assert upload_form(upload, OTHER) in (200, 204)  # lands after HeadObject, before CopyObject
        return checked

    monkeypatch.setattr(objects, "verify_upload", verify_then_replace)
    if s3_precondition:
        with s3_honours_copy_source_if_match() as refused:
            r = _complete(client, tokens, hw["id"])
        assert refused == [upload["fields"]["key"]]
    else:
        r = _complete(client, tokens, hw["id"])
    assert r.status_code == 409 and r.json_body["error"]["code"] == "upload_changed", r.body
    assert "Complete the upload again" in r.json_body["error"]["message"]
    mine = get(client, f"/customer/homework/{hw['id']}", tokens.customer_a).json_body
    assert mine["status"] == "awaiting_upload" and mine["download_url"] is None
    assert _submitted(aws) == [] and _bytes(upload["fields"]["key"]) == OTHER  # nothing kept, nothing lost

    monkeypatch.setattr(objects, "verify_upload", real_verify)
    retry = _complete(client, tokens, hw["id"])  # verifies the file that is there now, and keeps exactly that
    assert retry.status_code == 200 and retry.json_body["status"] == "uploaded"
    assert _admin_download(client, tokens, student, hw["id"]) == OTHER
    assert _submitted(aws) == s3_keys(aws)


@pytest.mark.parametrize("crash_at", ["delete", "record"])
def test_a_complete_killed_after_the_copy_is_finished_by_the_next_one(
    client,
    tokens,
    student,  # noqa: F811
    aws,
    monkeypatch,
    crash_at,
):
    from chalicelib.media import objects, store

    hw, upload = _uploaded(client, tokens, student)
    target = (objects, "delete") if crash_at == "delete" else (store, "record_homework_submitted")
    real = getattr(*target)
    crashes = []

    def dies_once(*args, **kwargs):
        if not crashes:
            crashes.append(1)
            raise RuntimeError("process killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(*target, dies_once)
    r = _complete(client, tokens, hw["id"])
    assert crashes and r.status_code == 500
    assert get(client, f"/customer/homework/{hw['id']}", tokens.customer_a).json_body["status"] == "awaiting_upload"
    assert len(_submitted(aws)) == 1  # the copy was made
    assert (upload["fields"]["key"] in s3_keys(aws)) is (crash_at == "delete")

    done = _complete(client, tokens, hw["id"])
    assert done.status_code == 200 and done.json_body["status"] == "uploaded"
    assert s3_keys(aws) == _submitted(aws) and len(_submitted(aws)) == 1  # converged: one copy, no upload left
    assert _admin_download(client, tokens, student, hw["id"]) == PDF
    assert _complete(client, tokens, hw["id"]).json_body["uploaded_at"] == done.json_body["uploaded_at"]


def test_two_completes_at_once_record_one_copy_and_return_the_same_homework(client, tokens, student, aws, monkeypatch):  # noqa: F811
    from chalicelib.media import objects, service

    hw, _ = _uploaded(client, tokens, student)
    real_verify = objects.verify_upload
    barrier = threading.Barrier(2, timeout=10)

    def verify_together(key, *args):  # both clicks verified the upload before either copies it
        checked = real_verify(key, *args)
        if "/upload." in key:
            barrier.wait()
        return checked

    monkeypatch.setattr(objects, "verify_upload", verify_together)
    results: list[object] = []

    def click():
        try:
            results.append(service.complete_homework(hw["id"], "cust-a"))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) for r in results), results
    a, b = results
    assert (a.key, a.uploaded_at, a.status) == (b.key, b.uploaded_at, "uploaded")
    assert s3_keys(aws) == [a.key]
    assert _admin_download(client, tokens, student, hw["id"]) == PDF


def test_size_and_type_lies_are_still_refused_and_nothing_is_kept(client, tokens, student, aws):  # noqa: F811
    r = start_homework(client, tokens, student)
    hw, upload = r.json_body["homework"], r.json_body["upload"]
    upload_form(upload, PDF + b"extra")
    r = _complete(client, tokens, hw["id"])
    assert r.status_code == 409 and r.json_body["error"]["code"] == "upload_size_mismatch"
    assert s3_keys(aws) == []

    upload_form(upload, b"not a pdf" + b"." * (len(PDF) - 9))
    r = _complete(client, tokens, hw["id"])
    assert r.status_code == 400 and r.json_body["error"]["code"] == "upload_type_mismatch"
    assert s3_keys(aws) == []
    assert get(client, f"/customer/homework/{hw['id']}", tokens.customer_a).json_body["status"] == "awaiting_upload"


def test_rows_from_before_the_copy_keep_working(client, tokens, student, aws):  # noqa: F811
    """Old rows point at ``.../homework/<id>.<ext>``: downloads read it; an old pending upload completes."""
    from chalicelib.core.db import new_id, utcnow
    from chalicelib.core.settings import get_settings
    from chalicelib.media.store import Homework

    s3, bucket = boto3.client("s3"), get_settings().bucket_name
    base = f"customers/cust-a/students/{student}/homework/"
    rows = {}
    for status in ("uploaded", "awaiting_upload"):
        hid = new_id()
        rows[status] = Homework(
            id=hid,
            customer_id="cust-a",
            student_id=student,
            filename="old.pdf",
            content_type="application/pdf",
            size_bytes=len(PDF),
            key=f"{base}{hid}.pdf",
            status=status,
            created_at=utcnow(),
            uploaded_at=utcnow() if status == "uploaded" else None,
        )
        rows[status].save()
        s3.put_object(Bucket=bucket, Key=f"{base}{hid}.pdf", Body=PDF, ContentType="application/pdf")

    assert _admin_download(client, tokens, student, rows["uploaded"].id) == PDF
    pending = rows["awaiting_upload"]
    r = _complete(client, tokens, pending.id)
    assert r.status_code == 200 and r.json_body["status"] == "uploaded"
    kept = f"{base}{pending.id}/submitted-{hashlib.md5(PDF).hexdigest()}.pdf"
    assert sorted(s3_keys(aws)) == sorted([f"{base}{rows['uploaded'].id}.pdf", kept])
    assert _admin_download(client, tokens, student, pending.id) == PDF


def test_submitted_keys_are_named_by_a_real_etag_only():
    from chalicelib.media import domain

    etag = '"' + hashlib.md5(b"x").hexdigest() + '"'
    key = domain.homework_submitted_key("cust-a", "stu", "hw1", "pdf", etag)
    assert key == f"customers/cust-a/students/stu/homework/hw1/submitted-{etag.strip(chr(34))}.pdf"
    assert domain.homework_submitted_key("c", "s", "h", "pdf", "0" * 32 + "-3").endswith("submitted-" + "0" * 32 + "-3.pdf")
    assert domain.homework_key("c", "s", "h", "pdf") == "customers/c/students/s/homework/h/upload.pdf"
    for bad in ("", '""', "../../x", "0" * 31, "0" * 32 + "/x"):
        with pytest.raises(domain.MediaRuleError):
            domain.homework_submitted_key("c", "s", "h", "pdf", bad)


@pytest.mark.parametrize(("encryption", "refused"), [("AES256", True), (None, True), ("aws:kms", False)])
def test_the_copy_etag_check_applies_only_where_an_etag_is_the_md5(aws, monkeypatch, encryption, refused):
    """Under SSE-S3 a copy's ETag equals its source's, so a different one means different bytes; under
    SSE-KMS every copy gets its own ETag, and S3's ``CopySourceIfMatch`` alone decides."""
    from chalicelib.core.errors import Conflicting
    from chalicelib.media import objects

    s3, deleted = _app_s3(), []
    answer = {"CopyObjectResult": {"ETag": '"' + "1" * 32 + '"'}, **({"ServerSideEncryption": encryption} if encryption else {})}
    monkeypatch.setattr(s3, "copy_object", lambda **kw: answer)
    monkeypatch.setattr(objects, "delete", deleted.append)
    if refused:
        with pytest.raises(Conflicting) as exc:
            objects.copy_verified("src", "dst", '"' + "0" * 32 + '"')
        assert exc.value.code == "upload_changed" and deleted == ["dst"]
    else:
        assert objects.copy_verified("src", "dst", '"' + "0" * 32 + '"') == '"' + "1" * 32 + '"' and deleted == []
