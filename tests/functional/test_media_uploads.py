"""Homework and video uploads, Admin > Insights > Media: ownership, lies refused, eligibility and 409s."""

from __future__ import annotations

import threading

import boto3
import pytest

from tests.media_support import fake_mp4, get, post, upload_form

PDF = b"%PDF-1.4\n" + b"x" * 100
MP4_HEAD = fake_mp4()  # a well-formed box structure: passes the upload checks; the worker probes for real


@pytest.fixture
def student(client, tokens):
    r = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"})
    return r.json_body["id"]


@pytest.fixture
def other_student(client, tokens):
    return post(client, "/admin/students", tokens.admin, {"customer_id": "cust-b", "name": "Bob"}).json_body["id"]


def start_homework(client, tokens, student, data=PDF, **over):
    body = {"student_id": student, "filename": "essay.pdf", "content_type": "application/pdf", "size_bytes": len(data), **over}
    return post(client, "/customer/homework", tokens.customer_a, body)


def start_video(client, tokens, student, data=MP4_HEAD, **over):
    body = {"student_id": student, "filename": "proof.mp4", "content_type": "video/mp4", "size_bytes": len(data), **over}
    return post(client, "/customer/videos", tokens.customer_a, body)


def s3_keys(aws):
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=aws["MediaBucket"]).get("Contents", [])]


def test_homework_upload_round_trip(client, tokens, student, aws):
    r = start_homework(client, tokens, student)
    assert r.status_code == 201, r.body
    hw, upload = r.json_body["homework"], r.json_body["upload"]
    assert hw["status"] == "awaiting_upload" and hw["download_url"] is None
    key = upload["fields"]["key"]
    assert key.startswith(f"customers/cust-a/students/{student}/homework/{hw['id']}") and key.endswith(".pdf")
    assert upload["fields"]["Content-Type"] == "application/pdf" and upload["expires_at"].endswith("Z")
    import base64
    import json

    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", len(PDF), len(PDF)] in policy["conditions"]
    assert {"key": key} in policy["conditions"]

    assert post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a).status_code == 409  # not uploaded yet
    assert upload_form(upload, PDF) in (200, 204)
    r = post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a)
    assert r.status_code == 200 and r.json_body["status"] == "uploaded" and r.json_body["download_url"]
    again = post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a)
    assert again.status_code == 200 and again.json_body["uploaded_at"] == r.json_body["uploaded_at"]

    mine = get(client, "/customer/homework", tokens.customer_a).json_body
    assert [h["id"] for h in mine["items"]] == [hw["id"]]
    assert get(client, "/customer/homework", tokens.customer_b).json_body["items"] == []
    admin = get(client, f"/admin/homework?student_id={student}", tokens.admin).json_body
    assert [h["id"] for h in admin["items"]] == [hw["id"]]
    assert get(client, "/admin/homework?student_id=someone-else", tokens.admin).json_body["items"] == []
    assert get(client, f"/customer/homework/{hw['id']}", tokens.customer_b).status_code == 404


def test_size_lie_is_refused_and_the_object_deleted(client, tokens, student, aws):
    r = start_homework(client, tokens, student)
    hw, upload = r.json_body["homework"], r.json_body["upload"]
    upload_form(upload, PDF + b"more bytes than declared")  # moto does not enforce the POST policy; complete must
    r = post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "upload_size_mismatch"
    assert upload["fields"]["key"] not in s3_keys(aws)
    assert get(client, f"/customer/homework/{hw['id']}", tokens.customer_a).json_body["status"] == "awaiting_upload"


@pytest.mark.parametrize(
    ("declared", "fields_type", "data"),
    [
        ("application/pdf", "application/pdf", b"just some text, not a pdf at all......"),  # content lies
        ("application/pdf", "text/plain", PDF),  # stored type differs from the declared one
    ],
)
def test_type_lie_is_refused_and_the_object_deleted(client, tokens, student, aws, declared, fields_type, data):
    r = start_homework(client, tokens, student, data=data, content_type=declared)
    hw, upload = r.json_body["homework"], r.json_body["upload"]
    upload = {**upload, "fields": {**upload["fields"], "Content-Type": fields_type}}
    upload_form(upload, data)
    r = post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_a)
    assert r.status_code == 400 and r.json_body["error"]["code"] == "upload_type_mismatch"
    assert upload["fields"]["key"] not in s3_keys(aws)


def test_renamed_text_file_is_refused_as_a_video(client, tokens, student, aws):
    text = b"this is a text file renamed to proof.mp4\n" * 3
    r = start_video(client, tokens, student, data=text)
    video, upload = r.json_body["video"], r.json_body["upload"]
    upload_form(upload, text)
    r = post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)
    assert r.status_code == 400 and r.json_body["error"]["code"] == "upload_type_mismatch"
    assert s3_keys(aws) == []


def test_other_customers_student_and_records_are_404(client, tokens, student, other_student):
    r = start_homework(client, tokens, other_student)
    assert r.status_code == 404 and r.json_body["error"]["code"] == "student_not_found"
    r = start_video(client, tokens, other_student)
    assert r.status_code == 404
    hw = start_homework(client, tokens, student).json_body["homework"]
    video = start_video(client, tokens, student).json_body["video"]
    assert post(client, f"/customer/homework/{hw['id']}/complete", tokens.customer_b).status_code == 404
    assert post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_b).status_code == 404
    assert get(client, f"/customer/videos/{video['id']}", tokens.customer_b).status_code == 404
    assert get(client, f"/customer/videos/{video['id']}", tokens.customer_a).status_code == 200
    assert get(client, f"/customer/homework?student_id={other_student}", tokens.customer_a).status_code == 404
    assert get(client, "/customer/videos", tokens.customer_b).json_body["items"] == []


@pytest.mark.parametrize(
    ("over", "status", "field"),
    [
        ({"content_type": "application/x-msdownload", "filename": "virus.exe"}, 400, "content_type"),
        ({"filename": "essay.png"}, 400, "filename"),
        ({"filename": "../../etc/passwd.pdf"}, 400, "filename"),
        ({"size_bytes": 0}, 400, "size_bytes"),
        ({"size_bytes": "100"}, 400, "size_bytes"),
        ({"size_bytes": 26 * 1024 * 1024}, 413, "size_bytes"),
        ({"student_id": None}, 400, "student_id"),
        ({"colour": "blue"}, 400, "colour"),
    ],
)
def test_bad_homework_input_is_4xx_naming_the_field(client, tokens, student, over, status, field):
    r = start_homework(client, tokens, student, **over)
    assert r.status_code == status, r.body
    assert field in r.json_body["error"]["details"]["fields"]


def test_video_limits_and_types(client, tokens, student):
    assert start_video(client, tokens, student, size_bytes=2 * 1024**3 + 1).status_code == 413
    assert start_video(client, tokens, student, size_bytes=2 * 1024**3).status_code == 201
    for ctype, name in [("video/quicktime", "a.mov"), ("video/webm", "a.webm"), ("video/x-matroska", "a.mkv")]:
        assert start_video(client, tokens, student, content_type=ctype, filename=name).status_code == 201
    assert start_video(client, tokens, student, content_type="video/avi", filename="a.avi").status_code == 400
    assert post(client, "/customer/videos", tokens.admin, {}).status_code == 403
    assert post(client, "/customer/videos", tokens.customer_a, "{not json").status_code == 400


def complete_video(client, tokens, student):
    r = start_video(client, tokens, student)
    video, upload = r.json_body["video"], r.json_body["upload"]
    upload_form(upload, MP4_HEAD)
    return video, post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)


def test_video_complete_records_original_and_queues_once(client, tokens, student):
    video, r = complete_video(client, tokens, student)
    assert r.status_code == 202, r.body
    body = r.json_body
    assert body["variant_count"] == 1 and body["optimisable"] is True
    assert body["variants"][0]["name"] == "original" and body["variants"][0]["size_bytes"] == len(MP4_HEAD)
    assert body["variants"][0]["key"].startswith("customers/cust-a/")
    assert body["job"]["state"] == "queued" and body["job"]["type"] == "process_video_proof"
    again = post(client, f"/customer/videos/{video['id']}/complete", tokens.customer_a)
    assert again.status_code == 202 and again.json_body["job"]["job_id"] == body["job"]["job_id"]

    r = post(client, f"/admin/media/{video['id']}/optimise", tokens.admin)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "already_queued"
    detail = get(client, f"/admin/media/{video['id']}", tokens.admin).json_body
    assert detail["job"]["job_id"] == body["job"]["job_id"] and detail["variants"][0]["url"]
    mine = get(client, f"/customer/videos/{video['id']}", tokens.customer_a).json_body
    assert mine["id"] == video["id"] and mine["optimisable"] is True

    from chalicelib.jobs.ledger import Job

    jobs = list(Job.by_entity.query(f"video:{video['id']}"))
    assert len(jobs) == 1


def test_optimise_when_not_uploaded_or_unknown(client, tokens, student):
    video = start_video(client, tokens, student).json_body["video"]
    r = post(client, f"/admin/media/{video['id']}/optimise", tokens.admin)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "not_uploaded"
    assert post(client, "/admin/media/01NOPE/optimise", tokens.admin).status_code == 404
    assert post(client, f"/admin/media/{video['id']}/optimise", tokens.customer_a).status_code == 403


def _fail_job(job_id):
    from chalicelib.jobs import ledger

    run = ledger.start_run(job_id, stale_after_s=300)
    assert run is not None
    ledger.record_failure(job_id, run[1], "RuntimeError", "boom", final=True)


def test_two_admins_clicking_at_once_queue_one_job(client, tokens, student):
    video, r = complete_video(client, tokens, student)
    _fail_job(r.json_body["job"]["job_id"])  # eligible again, nothing queued

    from chalicelib.media import service

    real = service.current_job
    barrier = threading.Barrier(2, timeout=10)

    def racing_current_job(v):  # both admins read the same state before either dispatches
        found = real(v)
        barrier.wait()
        return found

    outcomes: list[object] = []

    def click():
        try:
            outcomes.append(service.request_optimisation(video["id"], newest_job=racing_current_job).job_id)
        except Exception as exc:  # noqa: BLE001
            outcomes.append(exc)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if not isinstance(o, str)]
    assert len(created) == 1 and len(refused) == 1, outcomes
    assert getattr(refused[0], "code", None) == "already_queued"
    r = post(client, f"/admin/media/{video['id']}/optimise", tokens.admin)  # a later click sees it queued
    assert r.status_code == 409 and r.json_body["error"]["details"]["job_id"] == created[0]


def test_admin_optimise_after_failure_is_202_and_audited(client, tokens, student):
    video, r = complete_video(client, tokens, student)
    _fail_job(r.json_body["job"]["job_id"])
    r = post(client, f"/admin/media/{video['id']}/optimise", tokens.admin)
    assert r.status_code == 202 and set(r.json_body) == {"job_id"}
    assert get(client, f"/admin/media/{video['id']}", tokens.admin).json_body["job"]["job_id"] == r.json_body["job_id"]
    entries = get(client, "/admin/audit", tokens.admin).json_body["items"]
    assert entries[0]["action"] == "media.optimise" and entries[0]["result"]["job_id"] == r.json_body["job_id"]


def test_media_list_filters_by_eligibility_without_scans(client, tokens, student, monkeypatch):
    from chalicelib.media import store
    from chalicelib.media.store import Variant

    a, _ = complete_video(client, tokens, student)
    b, _ = complete_video(client, tokens, student)
    start_video(client, tokens, student)  # never uploaded: in neither list
    orig = store.get_video(b["id"]).variants[0]
    folder = orig.key.rsplit("/", 1)[0]  # the pipeline's keys (the API's role may presign only those)
    variant = Variant(name="720p", key=f"{folder}/720p.mp4", size_bytes=1)
    assert store.record_optimised(b["id"], orig, variant, f"{folder}/poster.jpg")
    assert not store.record_optimised(b["id"], orig, variant, f"{folder}/poster.jpg")  # never twice

    def no_scan(*a, **k):
        raise AssertionError("lists must not scan")

    monkeypatch.setattr(store.Video, "scan", no_scan)
    monkeypatch.setattr(store.Homework, "scan", no_scan)
    ids = lambda q: [v["id"] for v in get(client, f"/admin/media{q}", tokens.admin).json_body["items"]]  # noqa: E731
    assert ids("?optimisable=true") == [a["id"]]
    assert ids("?optimisable=false") == [b["id"]]
    assert len(ids("")) == 3
    assert ids(f"?student_id={student}&optimisable=false") == [b["id"]]
    page = get(client, "/admin/media?optimisable=false", tokens.admin).json_body["items"][0]
    assert page["variant_count"] == 2 and page["optimisable"] is False and page["poster_url"]
    assert get(client, "/admin/media?optimisable=maybe", tokens.admin).status_code == 400
    assert get(client, "/admin/media?limit=0", tokens.admin).status_code == 400
    r = post(client, f"/admin/media/{b['id']}/optimise", tokens.admin)
    assert r.status_code == 409 and r.json_body["error"]["code"] == "already_optimised"
    assert len(get(client, "/customer/videos", tokens.customer_a).json_body["items"]) == 3
    assert get(client, "/admin/homework", tokens.admin).status_code == 200
