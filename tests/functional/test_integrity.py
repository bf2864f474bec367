"""Integrity sweeps: each check finds a planted defect of its kind, files an incident carrying the repair,
repairs it with apply (audited), and a second apply changes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from chalicelib.core.db import utcnow
from chalicelib.integrity import service
from tests.media_support import fake_mp4, get, post

MP4 = fake_mp4()  # a well-formed box structure: it passes the upload's precheck


@pytest.fixture
def student(client, tokens):
    return post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]


@pytest.fixture
def later(monkeypatch):
    """The sweep's clock moved on (past form and multipart lifetimes)."""

    def move(delta: timedelta) -> None:
        monkeypatch.setattr(service, "TUNABLES", replace(service.TUNABLES, clock=lambda: utcnow() + delta))

    return move


def _uploaded_video(client, tokens, student, aws) -> str:
    body = {"student_id": student, "filename": "p.mp4", "content_type": "video/mp4", "size_bytes": len(MP4)}
    created = post(client, "/customer/videos", tokens.customer_a, body).json_body
    fields = created["upload"]["fields"]
    boto3.client("s3").put_object(Bucket=aws["MediaBucket"], Key=fields["key"], Body=MP4, ContentType="video/mp4")
    assert post(client, f"/customer/videos/{created['video']['id']}/complete", tokens.customer_a).status_code == 202
    return created["video"]["id"]


def _twice(name: str) -> tuple[service.CheckReport, service.CheckReport, service.CheckReport]:
    dry = service.run_check(name)
    applied = service.run_check(name, apply=True)
    again = service.run_check(name, apply=True)
    return dry, applied, again


def _incidents(client, tokens, check: str) -> list[dict]:
    groups = get(client, f"/admin/incidents?area=backend.integrity.{check}", tokens.admin).json_body["items"]
    return groups


def test_video_variants_count_and_missing_objects(client, tokens, student, aws):
    from chalicelib.media.store import Variant, Video

    ok = _uploaded_video(client, tokens, student, aws)
    wrong_count = _uploaded_video(client, tokens, student, aws)
    Video(id=wrong_count).update(actions=[Video.variant_count.set(3)])
    lost = _uploaded_video(client, tokens, student, aws)
    v = Video.get(lost)
    gone = Variant(name="720p", key=v.original_key.replace("original", "720p"), size_bytes=10)
    v.update(actions=[Video.variants.set([*v.variants, gone]), Video.variant_count.set(2), Video.eligibility.set("optimised")])

    dry, applied, again = _twice("video_variants")
    assert {(f.kind, f.entity["id"]) for f in dry.findings} == {
        ("variant_count_mismatch", wrong_count),
        ("variant_object_missing", lost),
    }
    assert dry.read == 3 and dry.repaired == 0 and dry.cursor is None
    assert applied.repaired == 2 and again.findings == [] and again.repaired == 0
    assert int(Video.get(wrong_count).variant_count) == 1
    repaired = get(client, f"/admin/media/{lost}", tokens.admin).json_body
    assert repaired["variant_count"] == 1 and repaired["optimisable"] is True  # optimisable again
    assert get(client, f"/admin/media/{ok}", tokens.admin).json_body["variant_count"] == 1
    groups = _incidents(client, tokens, "video_variants")
    assert {g["count"] for g in groups} == {2} and len(groups) == 2  # dry run + apply each filed it; one group per kind
    detail = get(client, f"/admin/incidents/groups/{groups[0]['group_id']}", tokens.admin).json_body
    assert detail["items"][0]["context"]["repair"]["action"] in ("set_variant_count", "drop_variant")
    audit = get(client, "/admin/audit?action=integrity.repair", tokens.admin).json_body["items"]
    assert len(audit) == 1 and audit[0]["result"]["repaired"] == 2


def test_attendance_of_a_missing_schedule(client, tokens, student):
    from chalicelib.schedules.store import Attendance

    when = {"starts_at": "2026-01-05T15:00:00Z", "ends_at": "2026-01-05T16:00:00Z"}
    sched = post(client, "/admin/schedules", tokens.admin, {"title": "Maths", "student_ids": [student], **when}).json_body
    put = client.http.put(
        f"/admin/schedules/{sched['id']}/attendance/2026-01-05/{student}",
        headers=tokens.h(tokens.admin),
        body='{"status":"present"}',
    )
    assert put.status_code == 200
    now = utcnow()
    Attendance(schedule_id="01JGONE0000000000000000000", key=f"2026-01-05#{student}", date="2026-01-05",
               student_id=student, status="present", created_at=now, updated_at=now).save()  # fmt: skip
    dry, applied, again = _twice("attendance_orphans")
    assert [(f.entity["id"], f.repair["key"]) for f in dry.findings] == [("01JGONE0000000000000000000", f"2026-01-05#{student}")]
    assert applied.repaired == 1 and again.findings == []
    assert len(list(Attendance.query(sched["id"]))) == 1  # the live schedule's attendance is untouched


def test_future_instances_of_recurring_tasks(client, tokens):
    from chalicelib.tasks.domain import DAILY
    from chalicelib.tasks.store import TaskInstance

    task = post(client, "/admin/tasks", tokens.admin, {"title": "Read", "recurrence": "daily"}).json_body["task"]
    future = (utcnow() + timedelta(days=3)).date().isoformat()
    now = utcnow()
    TaskInstance(task_id=task["id"], date=future, series=DAILY, timezone="UTC", created_at=now, updated_at=now).save()
    dry, applied, again = _twice("future_instances")
    assert [(f.entity["id"], f.detail["date"]) for f in dry.findings] == [(task["id"], future)]
    assert applied.repaired == 1 and again.findings == []
    dates = [i["date"] for i in get(client, f"/admin/tasks/{task['id']}/instances", tokens.admin).json_body["items"]]
    assert future not in dates and len(dates) == 1  # today's instance is kept


def test_homework_pointing_at_a_missing_object_needs_a_person(client, tokens, student, aws):
    from chalicelib.media.store import Homework

    body = {"student_id": student, "filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 9}
    hw = post(client, "/customer/homework", tokens.customer_a, body).json_body["homework"]
    Homework(id=hw["id"]).update(actions=[Homework.status.set("uploaded")])  # recorded, but no object
    dry, applied, again = _twice("homework_objects")
    assert [(f.kind, f.entity["id"], f.repair) for f in dry.findings] == [("homework_object_missing", hw["id"], None)]
    assert applied.repaired == 0 and applied.manual == 1 and again.manual == 1  # reported, never "repaired" blindly


def test_orphan_objects_older_than_their_form_are_deleted(client, tokens, student, aws, later):
    s3 = boto3.client("s3")
    video = _uploaded_video(client, tokens, student, aws)
    body = {"student_id": student, "filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 9}
    pending = post(client, "/customer/homework", tokens.customer_a, body).json_body["upload"]["fields"]["key"]
    s3.put_object(Bucket=aws["MediaBucket"], Key=pending, Body=b"%PDF-1.4\n")  # uploaded, not yet completed: referenced
    orphan = f"customers/cust-a/students/{student}/homework/01JORPHAN00000000000000000/upload.pdf"
    s3.put_object(Bucket=aws["MediaBucket"], Key=orphan, Body=b"%PDF-1.4 left behind")
    assert service.run_check("orphan_objects").findings == []  # young: its form may still be in use
    later(timedelta(hours=2))
    dry, applied, again = _twice("orphan_objects")
    assert [f.repair["key"] for f in dry.findings] == [orphan] and dry.read == 3
    assert applied.repaired == 1 and again.findings == []
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=aws["MediaBucket"]).get("Contents", [])]
    assert orphan not in keys and pending in keys and any(video in k for k in keys)


def test_abandoned_multipart_uploads_are_aborted_and_their_video_removed(client, tokens, student, aws, later):
    body = {
        "student_id": student,
        "filename": "p.mp4",
        "content_type": "video/mp4",
        "size_bytes": 20 * 1024 * 1024,
        "multipart": True,
    }
    started = post(client, "/customer/videos", tokens.customer_a, body).json_body
    assert service.run_check("abandoned_uploads").findings == []
    later(timedelta(days=1, minutes=1))
    dry, applied, again = _twice("abandoned_uploads")
    assert [f.repair["upload_id"] for f in dry.findings] == [started["multipart"]["upload_id"]]
    assert applied.repaired == 1 and again.findings == []
    assert boto3.client("s3").list_multipart_uploads(Bucket=aws["MediaBucket"]).get("Uploads", []) == []
    assert get(client, f"/customer/videos/{started['video']['id']}", tokens.customer_a).status_code == 404


def test_a_budget_bounds_each_run_and_the_cursor_resumes(client, tokens, student):
    from chalicelib.schedules.store import Attendance

    now = utcnow()
    for i in range(7):
        Attendance(schedule_id=f"01JGONE{i:019d}", key="2026-01-05#s", date="2026-01-05", student_id="s",
                   status="present", created_at=now, updated_at=now).save()  # fmt: skip
    first = service.run_check("attendance_orphans", budget=3, page_size=2)
    assert first.read == 3 and first.cursor and len(first.findings) == 3
    rest = service.run_check("attendance_orphans", budget=100, cursor=first.cursor)
    assert rest.cursor is None and len(first.findings) + len(rest.findings) == 7
    assert {f.entity["id"] for f in first.findings}.isdisjoint({f.entity["id"] for f in rest.findings})  # each row read once


def test_a_stuck_queued_job_is_sent_again(client, tokens, student, aws):
    from chalicelib.jobs.ledger import Job

    video = _uploaded_video(client, tokens, student, aws)
    job_id = get(client, f"/admin/media/{video}", tokens.admin).json_body["job"]["job_id"]
    Job(job_id=job_id).update(actions=[Job.updated_at.set(utcnow() - timedelta(days=10))])  # its message was lost
    dry, applied, again = _twice("stuck_jobs")
    assert [(f.kind, f.entity["id"]) for f in dry.findings] == [("stuck_queued_job", job_id)]
    assert applied.repaired == 1 and again.findings == []
    detail = get(client, f"/admin/jobs/{job_id}", tokens.admin).json_body
    assert detail["state"] == "queued" and detail["stuck"] is False


def _orphans(n: int) -> None:
    from chalicelib.schedules.store import Attendance

    now = utcnow()
    for i in range(n):
        Attendance(schedule_id=f"01JLOST{i:019d}", key="2026-01-05#s", date="2026-01-05", student_id="s",
                   status="present", created_at=now, updated_at=now).save()  # fmt: skip


def test_the_scheduled_sweep_resumes_from_its_cursor_and_never_repairs(client, tokens, student, aws, later, monkeypatch):
    """Invoked as Lambda invokes it, so each call it makes is checked against its own role (infra/iam.py)."""
    from chalicelib.integrity import jobs

    _orphans(5)
    _uploaded_video(client, tokens, student, aws)  # a variant to HEAD, an object its row references
    orphan = f"customers/cust-a/students/{student}/homework/01JORPHAN00000000000000000/upload.pdf"
    boto3.client("s3").put_object(Bucket=aws["MediaBucket"], Key=orphan, Body=b"%PDF-1.4 left behind")
    later(timedelta(hours=2))
    monkeypatch.setattr(service, "TUNABLES", replace(service.TUNABLES, budget=3))
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])

    def sweep() -> dict:
        return client.lambda_.invoke("integrity_sweep", event).payload

    first = sweep()
    assert first["attendance_orphans"] == {"read": 3, "found": 3, "complete": False}
    assert first["orphan_objects"] == {"read": 2, "found": 1, "complete": True}
    assert first["video_variants"] == {"read": 1, "found": 0, "complete": True}
    assert not any(r.get("error") for r in first.values())
    second = sweep()
    assert second["attendance_orphans"] == {"read": 2, "found": 2, "complete": True}
    third = sweep()  # from the top again: nothing was repaired
    assert third["attendance_orphans"]["found"] == 3 and third["orphan_objects"]["found"] == 1
    cursors = boto3.client("s3").get_object(Bucket=aws["MediaBucket"], Key=jobs.CURSORS_KEY)["Body"].read()
    assert json.loads(cursors)["attendance_orphans"]  # resumes after the 3 rows it read
    assert {g["count"] for g in _incidents(client, tokens, "orphan_objects")} == {3}  # filed each run, never repaired


def test_academy_doctor_dry_run_then_apply(aws):
    from click.testing import CliRunner

    from academy_cli.main import cli

    _orphans(2)
    runner = CliRunner()
    dry = runner.invoke(cli, ["doctor", "--aws", "--check", "attendance_orphans"])
    assert dry.exit_code == 0, dry.output
    assert "attendance_orphans: read 2, found 2" in dry.output and "re-run with --apply" in dry.output
    applied = runner.invoke(cli, ["doctor", "--aws", "--check", "attendance_orphans", "--apply", "--json"])
    assert applied.exit_code == 0, applied.output
    out = json.loads(applied.output.strip().splitlines()[-1])
    assert out["repaired"] == 2 and out["dry_run"] is False
    again = runner.invoke(cli, ["doctor", "--aws", "--apply"])
    assert again.exit_code == 0 and "attendance_orphans: read 0, found 0" in again.output, again.output
    bad = runner.invoke(cli, ["doctor", "--aws", "--check", "nope"])
    assert bad.exit_code == 2 and "unknown check" in bad.output


def test_an_open_job_whose_video_is_gone_is_cancelled(client, tokens, student, aws):
    from chalicelib.media.store import Video

    kept = _uploaded_video(client, tokens, student, aws)
    gone = _uploaded_video(client, tokens, student, aws)
    job_id = get(client, f"/admin/media/{gone}", tokens.admin).json_body["job"]["job_id"]
    Video(id=gone).delete()
    dry, applied, again = _twice("orphan_jobs")
    assert [(f.entity["id"], f.detail["entity"]["id"]) for f in dry.findings] == [(job_id, gone)]
    assert applied.repaired == 1 and again.findings == []
    assert get(client, f"/admin/jobs/{job_id}", tokens.admin).json_body["state"] == "cancelled"
    assert get(client, f"/admin/media/{kept}", tokens.admin).json_body["job"]["state"] == "queued"


def test_the_console_button_repairs_one_finding_from_its_incident(client, tokens):
    from chalicelib.schedules.store import Attendance

    _orphans(1)
    service.run_check("attendance_orphans")  # dry run: files the incident with its repair
    group = _incidents(client, tokens, "attendance_orphans")[0]
    incident = get(client, f"/admin/incidents/groups/{group['group_id']}", tokens.admin).json_body["items"][0]
    r = post(client, "/admin/integrity/repair", tokens.admin, {"incident_id": incident["id"]})
    assert r.status_code == 200 and r.json_body["changed"] is True and r.json_body["repair"]["action"] == "delete_attendance"
    assert list(Attendance.scan()) == []
    again = post(client, "/admin/integrity/repair", tokens.admin, {"incident_id": incident["id"]})
    assert again.status_code == 200 and again.json_body["changed"] is False  # idempotent
    audit = get(client, "/admin/audit?action=integrity.repair", tokens.admin).json_body["items"]
    assert [a["result"]["changed"] for a in audit] == [False, True]

    forged = {
        "area": "customers.homework.upload",
        "message": "please delete",
        "location": "x",
        "context": {"check": "orphan_objects", "repair": {"action": "delete_object", "key": "customers/x", "etag": "e"}},
    }
    filed = post(client, "/incidents", tokens.customer_a, forged).json_body["id"]
    refused = post(client, "/admin/integrity/repair", tokens.admin, {"incident_id": filed})
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "not_repairable"
    missing = post(client, "/admin/integrity/repair", tokens.admin, {"incident_id": "01JZZZZZZZZZZZZZZZZZZZZZZZ"})
    assert missing.status_code == 404
    assert post(client, "/admin/integrity/repair", tokens.customer_a, {"incident_id": filed}).status_code == 403


# --- the console's button carries out each repair the API offers (through the route, so the API's role
# is checked against every call it makes; chalicelib/integrity/routes.py refuses what its role cannot do)


def _button(client, tokens, check: str) -> list[dict]:
    """Click **Apply repair** on every incident of ``check`` (twice: the second click changes nothing)."""
    out = []
    for group in _incidents(client, tokens, check):
        for incident in get(client, f"/admin/incidents/groups/{group['group_id']}", tokens.admin).json_body["items"]:
            r = post(client, "/admin/integrity/repair", tokens.admin, {"incident_id": incident["id"]})
            assert r.status_code == 200, r.body
            again = post(client, "/admin/integrity/repair", tokens.admin, {"incident_id": incident["id"]})
            assert again.status_code == 200 and again.json_body["changed"] is False, again.body
            out.append(r.json_body)
    return out


def test_the_button_sets_the_variant_count_and_drops_a_missing_variant(client, tokens, student, aws):
    from chalicelib.media.store import Variant, Video

    wrong_count = _uploaded_video(client, tokens, student, aws)
    Video(id=wrong_count).update(actions=[Video.variant_count.set(3)])
    lost = _uploaded_video(client, tokens, student, aws)
    v = Video.get(lost)
    gone = Variant(name="720p", key=v.original_key.replace("original", "720p"), size_bytes=10)
    v.update(actions=[Video.variants.set([*v.variants, gone]), Video.variant_count.set(2), Video.eligibility.set("optimised")])
    assert len(service.run_check("video_variants").findings) == 2  # files the incidents
    done = _button(client, tokens, "video_variants")
    assert sorted((d["repair"]["action"], d["changed"]) for d in done) == [("drop_variant", True), ("set_variant_count", True)]
    assert int(Video.get(wrong_count).variant_count) == 1
    assert get(client, f"/admin/media/{lost}", tokens.admin).json_body["optimisable"] is True
    assert service.run_check("video_variants", file_incidents=False).findings == []


def test_the_button_deletes_a_future_instance(client, tokens):
    from chalicelib.tasks.domain import DAILY
    from chalicelib.tasks.store import TaskInstance

    task = post(client, "/admin/tasks", tokens.admin, {"title": "Read", "recurrence": "daily"}).json_body["task"]
    future = (utcnow() + timedelta(days=3)).date().isoformat()
    now = utcnow()
    TaskInstance(task_id=task["id"], date=future, series=DAILY, timezone="UTC", created_at=now, updated_at=now).save()
    service.run_check("future_instances")
    assert [(d["repair"]["action"], d["changed"]) for d in _button(client, tokens, "future_instances")] == [
        ("delete_future_instance", True)
    ]
    dates = [i["date"] for i in get(client, f"/admin/tasks/{task['id']}/instances", tokens.admin).json_body["items"]]
    assert future not in dates and len(dates) == 1


def test_the_button_deletes_an_orphan_upload_but_never_a_variant(client, tokens, student, aws, later):
    s3 = boto3.client("s3")
    video = _uploaded_video(client, tokens, student, aws)  # referenced: kept
    prefix = f"customers/cust-a/students/{student}"
    orphan = f"{prefix}/homework/01JORPHAN00000000000000000/upload.pdf"
    s3.put_object(Bucket=aws["MediaBucket"], Key=orphan, Body=b"%PDF-1.4 left behind")
    variant = f"{prefix}/videos/01JORPHAN00000000000000001/720p.mp4"  # a worker's output: not the API's to delete
    s3.put_object(Bucket=aws["MediaBucket"], Key=variant, Body=MP4)
    original = f"{prefix}/videos/01JORPHAN00000000000000002/original.mp4"  # a POST whose row is gone
    s3.put_object(Bucket=aws["MediaBucket"], Key=original, Body=MP4)
    later(timedelta(hours=2))
    service.run_check("orphan_objects")
    items = [
        i
        for g in _incidents(client, tokens, "orphan_objects")
        for i in get(client, f"/admin/incidents/groups/{g['group_id']}", tokens.admin).json_body["items"]
    ]
    by_key = {i["context"]["repair"]["key"]: i["id"] for i in items}
    assert set(by_key) == {orphan, variant, original}
    for key in (orphan, original):  # each re-checks that no homework or video row references it (a batch read)
        r = post(client, "/admin/integrity/repair", tokens.admin, {"incident_id": by_key[key]})
        assert r.status_code == 200 and r.json_body["changed"] is True
    refused = post(client, "/admin/integrity/repair", tokens.admin, {"incident_id": by_key[variant]})
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "not_repairable"
    assert "academy doctor --apply" in refused.json_body["error"]["message"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=aws["MediaBucket"]).get("Contents", [])}
    assert orphan not in keys and original not in keys and variant in keys and any(video in k for k in keys)
    assert service.run_check("orphan_objects", apply=True, file_incidents=False).repaired == 1  # the operator's way
    assert variant not in {o["Key"] for o in s3.list_objects_v2(Bucket=aws["MediaBucket"]).get("Contents", [])}


def test_the_button_aborts_an_abandoned_upload(client, tokens, student, aws, later):
    body = {"student_id": student, "filename": "p.mp4", "content_type": "video/mp4", "size_bytes": 20 * 1024 * 1024}
    started = post(client, "/customer/videos", tokens.customer_a, {**body, "multipart": True}).json_body
    later(timedelta(days=1, minutes=1))
    service.run_check("abandoned_uploads")
    assert [(d["repair"]["action"], d["changed"]) for d in _button(client, tokens, "abandoned_uploads")] == [
        ("abort_upload", True)
    ]
    assert boto3.client("s3").list_multipart_uploads(Bucket=aws["MediaBucket"]).get("Uploads", []) == []
    assert get(client, f"/customer/videos/{started['video']['id']}", tokens.customer_a).status_code == 404


def test_the_button_cancels_an_orphan_job_and_retries_a_stuck_one(client, tokens, student, aws):
    from chalicelib.jobs.ledger import Job
    from chalicelib.media.store import Video

    gone = _uploaded_video(client, tokens, student, aws)
    orphan_job = get(client, f"/admin/media/{gone}", tokens.admin).json_body["job"]["job_id"]
    Video(id=gone).delete()
    stuck = _uploaded_video(client, tokens, student, aws)
    stuck_job = get(client, f"/admin/media/{stuck}", tokens.admin).json_body["job"]["job_id"]
    Job(job_id=stuck_job).update(actions=[Job.updated_at.set(utcnow() - timedelta(days=10))])  # its message was lost
    service.run_check("orphan_jobs")
    service.run_check("stuck_jobs")
    assert [(d["repair"]["action"], d["changed"]) for d in _button(client, tokens, "orphan_jobs")] == [("cancel_job", True)]
    assert [(d["repair"]["action"], d["changed"]) for d in _button(client, tokens, "stuck_jobs")] == [("retry_job", True)]
    assert get(client, f"/admin/jobs/{orphan_job}", tokens.admin).json_body["state"] == "cancelled"
    detail = get(client, f"/admin/jobs/{stuck_job}", tokens.admin).json_body
    assert detail["state"] == "queued" and detail["stuck"] is False


@pytest.fixture(scope="module")
def api_policy():
    from tests.iam_calls import packaged_policies

    return packaged_policies("test")["APIHandler"]


@pytest.mark.parametrize(
    ("action", "iam_action", "key"),
    [
        ("delete_object", "s3:DeleteObject", "customers/c/students/s/homework/h/upload.pdf"),
        ("delete_object", "s3:DeleteObject", "customers/c/students/s/homework/h.pdf"),
        ("delete_object", "s3:DeleteObject", "customers/c/students/s/videos/v/original.mp4"),
        ("delete_object", "s3:DeleteObject", "customers/c/students/s/videos/v/original-parts.mov"),
        ("delete_object", "s3:DeleteObject", "customers/c/students/s/videos/v/720p.mp4"),
        ("delete_object", "s3:DeleteObject", "customers/c/students/s/videos/v/poster.jpg"),
        ("delete_object", "s3:DeleteObject", "customers/c/other.bin"),
        ("abort_upload", "s3:AbortMultipartUpload", "customers/c/students/s/videos/v/original-parts.mp4"),
        ("abort_upload", "s3:AbortMultipartUpload", "customers/c/students/s/videos/v/720p.mp4"),
        ("abort_upload", "s3:AbortMultipartUpload", "customers/c/students/s/homework/h/upload.pdf"),
    ],
)
def test_the_button_offers_an_object_repair_exactly_when_the_api_role_allows_it(api_policy, action, iam_action, key):
    """The route's refusal (chalicelib/integrity/routes.py) and the API's policy (infra/iam.py) agree."""
    from chalicelib.integrity.routes import refused_by_api
    from tests.iam_calls import Call, allowed, object_arn

    may = allowed(api_policy, Call(iam_action, object_arn("academy-test-media-123456789012", key)))
    assert (refused_by_api({"action": action, "key": key}) is None) is may
