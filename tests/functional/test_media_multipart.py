"""Resumable video uploads (S3 multipart): resume from ListParts, bound part URLs, lies refused, cancel, lifecycle."""

from __future__ import annotations

import urllib.parse

import boto3
import pytest
import requests

from chalicelib.media import domain
from tests.media_support import get, mp4_box, mvhd, post

MIB = 1024 * 1024
MP4_HEAD = mp4_box(b"ftyp", b"mp42" + bytes(4) + b"isommp42") + mp4_box(b"moov", mvhd(1.0))  # passes the upload's precheck


@pytest.fixture
def student(client, tokens):
    return post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]


def _file(size: int) -> bytes:
    """``size`` bytes of a well-formed MP4 box structure: ftyp, moov, and an mdat box filling the rest."""
    media = size - len(MP4_HEAD) - 8
    return MP4_HEAD + (8 + media).to_bytes(4, "big") + b"mdat" + (bytes(range(256)) * (media // 256 + 1))[:media]


def _start(client, tokens, student, size: int):
    body = {"student_id": student, "filename": "proof.mp4", "content_type": "video/mp4", "size_bytes": size, "multipart": True}
    r = post(client, "/customer/videos", tokens.customer_a, body)
    assert r.status_code == 201, r.body
    return r.json_body


def _put(url: str, data: bytes) -> int:
    return requests.put(url, data=data, timeout=60).status_code


def _chunk(data: bytes, part_size: int, n: int) -> bytes:
    return data[(n - 1) * part_size : n * part_size]


def _uploads(aws) -> list[dict]:
    return boto3.client("s3").list_multipart_uploads(Bucket=aws["MediaBucket"]).get("Uploads", [])


def test_the_part_plan_respects_s3_limits():
    assert domain.part_plan(1) == domain.PartPlan(1, 8 * MIB, 1)
    plan = domain.part_plan(2 * 1024**3)
    assert plan.part_count <= domain.S3_MAX_PARTS and plan.part_size >= 5 * MIB and plan.part_size % MIB == 0
    big = domain.part_plan(200 * 1024**3)  # beyond the default cap, still ≤ 10,000 parts
    assert big.part_count <= domain.S3_MAX_PARTS
    assert sum(plan.part_bytes(n) for n in range(1, plan.part_count + 1)) == plan.size_bytes
    assert domain.check_parts(domain.part_plan(20 * MIB), {1: 8 * MIB, 3: 4 * MIB}) == ([2], [])
    assert domain.check_parts(domain.part_plan(20 * MIB), {1: 8 * MIB, 2: 7 * MIB, 9: 1}) == ([3], [2, 9])


def test_an_interrupted_upload_resumes_from_list_parts_and_completes(client, tokens, student, aws):
    size = 36 * MIB + 123  # 5 parts: 4 x 8 MiB + the rest
    data = _file(size)
    started = _start(client, tokens, student, size)
    video, mp = started["video"], started["multipart"]
    assert started["upload"] is None and mp["part_count"] == 5 and mp["part_size"] == 8 * MIB
    assert [p["part_number"] for p in mp["parts"]] == [1, 2, 3, 4, 5]
    for p in mp["parts"][:2]:  # half the parts, then the connection drops
        assert _put(p["url"], _chunk(data, mp["part_size"], p["part_number"])) == 200

    # A reloaded page (or another device) knows only the video id: it asks S3 what is there.
    held = get(client, f"/customer/videos/{video['id']}/parts", tokens.customer_a)
    assert held.status_code == 200, held.body
    assert [p["part_number"] for p in held.json_body["parts"]] == [1, 2]
    assert held.json_body["missing"] == [3, 4, 5] and held.json_body["uploaded_bytes"] == 16 * MIB
    early = post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)
    assert early.status_code == 409 and early.json_body["error"]["code"] == "upload_incomplete"
    assert early.json_body["error"]["details"]["missing"] == [3, 4, 5]

    fresh = post(client, f"/customer/videos/{video['id']}/parts", tokens.customer_a, {"part_numbers": [3, 4, 5]})
    assert fresh.status_code == 200, fresh.body
    for p in fresh.json_body["parts"]:
        assert _put(p["url"], _chunk(data, mp["part_size"], p["part_number"])) == 200
    done = post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)
    assert done.status_code == 202, done.body
    body = done.json_body
    assert body["status"] == "uploaded" and body["variant_count"] == 1 and body["job"]["state"] == "queued"
    original = body["variants"][0]
    assert original["size_bytes"] == size and original["key"].endswith("/original-parts.mp4")
    head = boto3.client("s3").head_object(Bucket=aws["MediaBucket"], Key=original["key"])
    assert head["ContentLength"] == size and head["ETag"].strip('"').endswith("-5")
    got = boto3.client("s3").get_object(Bucket=aws["MediaBucket"], Key=original["key"])["Body"].read()
    assert got == data
    assert _uploads(aws) == []
    again = post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)  # idempotent
    assert again.status_code == 202 and again.json_body["job"]["job_id"] == body["job"]["job_id"]
    parts_after = get(client, f"/customer/videos/{video['id']}/parts", tokens.customer_a)
    assert parts_after.status_code == 409 and parts_after.json_body["error"]["code"] == "already_uploaded"


def test_a_lie_about_the_assembled_size_is_refused_and_deleted(client, tokens, student, aws):
    size = 20 * MIB  # declared: 8 + 8 + 4 MiB
    started = _start(client, tokens, student, size)
    video, mp = started["video"], started["multipart"]
    data = _file(size)
    _put(mp["parts"][0]["url"], _chunk(data, mp["part_size"], 1))
    _put(mp["parts"][1]["url"], _chunk(data, mp["part_size"], 2))
    _put(mp["parts"][2]["url"], _file(9 * MIB))  # the last part is bigger: the file is 25 MiB, not 20
    listed = get(client, f"/customer/videos/{video['id']}/parts", tokens.customer_a).json_body
    assert listed["wrong_size"] == [3]
    r = post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "upload_size_mismatch"
    assert r.json_body["error"]["details"]["uploaded_bytes"] == 25 * MIB
    assert _uploads(aws) == []  # aborted: S3 deleted the parts
    keys = boto3.client("s3").list_objects_v2(Bucket=aws["MediaBucket"]).get("Contents", [])
    assert keys == []
    assert get(client, f"/customer/videos/{video['id']}", tokens.customer_a).status_code == 404


def test_a_lie_found_after_assembly_is_refused_and_deleted(client, tokens, student, aws):
    size = 9 * MIB
    started = _start(client, tokens, student, size)
    video, mp = started["video"], started["multipart"]
    text = b"not a video at all " * (size // 19 + 1)
    for p in mp["parts"]:
        _put(p["url"], _chunk(text[:size], mp["part_size"], p["part_number"]))
    r = post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)
    assert r.status_code == 400 and r.json_body["error"]["code"] == "upload_type_mismatch"
    assert boto3.client("s3").list_objects_v2(Bucket=aws["MediaBucket"]).get("Contents", []) == []
    assert get(client, f"/customer/videos/{video['id']}", tokens.customer_a).status_code == 404  # nothing half-done left


def test_part_urls_are_bound_to_their_upload_and_part_number(client, tokens, student, aws, monkeypatch):
    """What is proven here: (1) each URL is SigV4-signed over its key, uploadId and partNumber — changing
    either gives another signature, which S3 refuses (403 SignatureDoesNotMatch); (2) the API signs only
    the row's own upload id and part numbers in its plan, and never another customer's video; (3) moto does
    NOT check presigned signatures (a replayed URL is accepted there), so (1) is AWS's guarantee — and
    whatever is smuggled in, ``complete`` still checks every part's size and the assembled file's type."""
    import datetime

    import botocore.auth

    from chalicelib.media import objects, store

    a = _start(client, tokens, student, 20 * MIB)
    b = _start(client, tokens, student, 20 * MIB)
    url = a["multipart"]["parts"][0]["url"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["uploadId"] == a["multipart"]["upload_id"] and query["partNumber"] == "1"

    signed_at = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: signed_at)
    key = store.get_video(a["video"]["id"]).original_key

    def signature(upload_id: str, part: int) -> str:  # what S3 expects for these parameters, at that instant
        again = objects.presigned_part(key, upload_id, part)
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(again).query))["X-Amz-Signature"]

    assert signature(query["uploadId"], 1) == query["X-Amz-Signature"]  # the recomputation is faithful
    assert signature(query["uploadId"], 2) != query["X-Amz-Signature"]  # another part number: S3 refuses
    assert signature(b["multipart"]["upload_id"], 1) != query["X-Amz-Signature"]  # another upload: S3 refuses
    monkeypatch.undo()

    vid = a["video"]["id"]
    out_of_plan = post(client, f"/customer/videos/{vid}/parts", tokens.customer_a, {"part_numbers": [4]})
    assert out_of_plan.status_code == 400 and "part_numbers" in out_of_plan.json_body["error"]["details"]["fields"]
    assert post(client, f"/customer/videos/{vid}/parts", tokens.customer_b, {"part_numbers": [1]}).status_code == 404
    assert get(client, f"/customer/videos/{vid}/parts", tokens.customer_b).status_code == 404
    for bad in ([], [0], ["1"], [1.0], list(range(1, 102))):
        r = post(client, f"/customer/videos/{vid}/parts", tokens.customer_a, {"part_numbers": bad})
        assert r.status_code == 400, (bad, r.status_code)

    # moto accepts part 1's URL replayed as part 2 (no signature check): complete still refuses a wrong size.
    replayed = url.replace("partNumber=1", "partNumber=2")
    assert _put(replayed, _file(3 * MIB)) == 200
    listed = get(client, f"/customer/videos/{vid}/parts", tokens.customer_a).json_body
    assert listed["wrong_size"] == [2]


def test_cancel_aborts_the_upload_and_removes_the_video(client, tokens, student, aws):
    started = _start(client, tokens, student, 20 * MIB)
    vid, mp = started["video"]["id"], started["multipart"]
    _put(mp["parts"][0]["url"], _file(8 * MIB))
    assert len(_uploads(aws)) == 1
    assert client.http.delete(f"/customer/videos/{vid}/upload", headers=tokens.h(tokens.customer_b)).status_code == 404
    r = client.http.delete(f"/customer/videos/{vid}/upload", headers=tokens.h(tokens.customer_a))
    assert r.status_code == 200 and r.json_body == {"cancelled": True}
    assert _uploads(aws) == []
    assert get(client, f"/customer/videos/{vid}", tokens.customer_a).status_code == 404
    assert client.http.delete(f"/customer/videos/{vid}/upload", headers=tokens.h(tokens.customer_a)).status_code == 404


def test_a_single_upload_video_is_not_multipart(client, tokens, student):
    body = {"student_id": student, "filename": "p.mp4", "content_type": "video/mp4", "size_bytes": 100}
    r = post(client, "/customer/videos", tokens.customer_a, body)
    assert r.status_code == 201 and r.json_body["multipart"] is None and r.json_body["upload"]["url"]
    vid = r.json_body["video"]["id"]
    listed = get(client, f"/customer/videos/{vid}/parts", tokens.customer_a)
    assert listed.status_code == 409 and listed.json_body["error"]["code"] == "not_multipart"
    bad = post(client, "/customer/videos", tokens.customer_a, {**body, "multipart": "true"})
    assert bad.status_code == 400 and "multipart" in bad.json_body["error"]["details"]["fields"]


def test_abandoned_uploads_are_aborted_by_the_bucket_lifecycle_rule():
    from infra.template import build_template

    rules = build_template()["Resources"]["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    abort = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert abort and abort[0]["Status"] == "Enabled" and "Prefix" not in abort[0] and "Filter" not in abort[0]
    from chalicelib.media.multipart import UPLOAD_LIFETIME

    assert abort[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == UPLOAD_LIFETIME.days
    cors = build_template()["Resources"]["MediaBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0]
    assert "PUT" in cors["AllowedMethods"]  # the browser PUTs parts
