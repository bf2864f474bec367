"""The rehearsal smoke: ``academy up --rehearse`` on the real package, driven over HTTP as a user would.

The stack is created from the transformed template; every request goes through the rehearsal's API
Gateway into the APIHandler function's own process (started from deployment.zip); tokens are real
RS256 ID tokens from a user pool in the emulator, verified by the function against the pool's key set.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from chalicelib.integrity.service import CHECKS
from tests.media_support import make_clip
from tests.rehearse.conftest import ROOT, Rehearsal


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_health_routes_and_api_gateways_own_answers(rehearsal: Rehearsal) -> None:
    base = rehearsal.url
    for url in (f"{base}/api/health", f"{base}/health"):
        r = requests.get(url, timeout=30)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    for url in (f"{base}/api/nope", f"{base}/nope", f"{base}/other-stage/health"):
        r = requests.get(url, timeout=30)
        assert r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}, url
    r = requests.delete(f"{base}/api/health", timeout=30)  # a resource without that method
    assert r.status_code == 403
    r = requests.post(
        f"{base}/api/incidents", data=b"x" * (10 * 1024 * 1024 + 1), headers={"Content-Type": "application/json"}, timeout=60
    )
    assert r.status_code == 413
    assert r.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"


def test_console_under_the_stage_path(rehearsal: Rehearsal) -> None:
    page = requests.get(f"{rehearsal.url}/api/console/admin/jobs", timeout=30)
    assert page.status_code == 200
    assert '<script type="module" src="/api/console/static/app.js">' in page.text
    js = requests.get(f"{rehearsal.url}/api/console/static/api.js", timeout=30)
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert requests.get(f"{rehearsal.url}/api/static/incident-reporter.js", timeout=30).status_code == 200
    assert 'data-dev-sign-in="false"' in page.text  # a Cognito stage: no one-click sign-in


def test_dev_tokens_are_refused_and_a_signed_in_admin_writes_and_reads(rehearsal: Rehearsal) -> None:
    base = f"{rehearsal.url}/api"
    dev = jwt.encode(
        {"sub": "admin-1", "role": "admin", "exp": int(time.time()) + 600}, "any-dev-key-0123456789abcdef0123", "HS256"
    )
    r = requests.get(f"{base}/admin/students", headers=auth(dev), timeout=30)
    assert r.status_code == 401 and r.json()["error"]["code"]
    token, _ = rehearsal.sign_in("admin", "admin-smoke@example.com")
    r = requests.post(
        f"{base}/admin/students", headers=auth(token), json={"customer_id": "cust-smoke", "name": "Ada"}, timeout=30
    )
    assert r.status_code == 201, r.text
    student = r.json()
    r = requests.get(f"{rehearsal.url}/admin/students/{student['id']}", headers=auth(token), timeout=30)  # the root way, too
    assert r.status_code == 200 and r.json()["name"] == "Ada"
    audit = requests.get(f"{base}/admin/audit", headers=auth(token), timeout=30).json()["items"]
    assert any(a["action"] == "student.create" for a in audit)


def _poll(fn: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def test_a_video_job_goes_through_sqs_to_succeeded_with_the_layers_ffmpeg(rehearsal: Rehearsal, tmp_path: Path) -> None:
    base = f"{rehearsal.url}/api"
    admin, _ = rehearsal.sign_in("admin", "admin-smoke@example.com")
    customer, customer_id = rehearsal.sign_in("customer", "parent-smoke@example.com")
    student = requests.post(
        f"{base}/admin/students", headers=auth(admin), json={"customer_id": customer_id, "name": "Bo"}, timeout=30
    )
    assert student.status_code == 201, student.text
    clip = make_clip(tmp_path / "clip.mp4", 320, 240, 1.0)
    body = {
        "student_id": student.json()["id"],
        "filename": "clip.mp4",
        "content_type": "video/mp4",
        "size_bytes": clip.stat().st_size,
    }
    r = requests.post(f"{base}/customer/videos", headers=auth(customer), json=body, timeout=30)
    assert r.status_code == 201, r.text
    video, upload = r.json()["video"], r.json()["upload"]
    up = requests.post(upload["url"], data=upload["fields"], files={"file": ("clip.mp4", clip.read_bytes())}, timeout=60)
    assert up.status_code in (200, 201, 204), up.text
    r = requests.post(f"{base}/customer/videos/{video['id']}/complete", headers=auth(customer), timeout=30)
    assert r.status_code == 202, r.text

    def done() -> dict[str, Any] | None:
        v = requests.get(f"{base}/admin/media/{video['id']}", headers=auth(admin), timeout=30).json()
        return v if (v.get("job") or {}).get("state") in ("succeeded", "failed") else None

    v = _poll(done, 180, "the video job")
    assert v["job"]["state"] == "succeeded", v["job"]
    assert v["variant_count"] == 2 and {x["name"] for x in v["variants"]} >= {"original", "720p"}


def test_a_resumable_upload_resumes_completes_and_is_optimised_under_the_roles(rehearsal: Rehearsal, tmp_path: Path) -> None:
    """Multipart through the API's role (create, part URLs, ListParts, complete), the worker reading
    ``original-parts.mp4`` with its own; then a second upload cancelled (abort, row deleted)."""
    base = f"{rehearsal.url}/api"
    admin, _ = rehearsal.sign_in("admin", "admin-smoke@example.com")
    customer, customer_id = rehearsal.sign_in("customer", "parent-smoke@example.com")
    student = requests.post(
        f"{base}/admin/students", headers=auth(admin), json={"customer_id": customer_id, "name": "Cy"}, timeout=30
    )
    assert student.status_code == 201, student.text
    data = make_clip(tmp_path / "clip.mp4", 320, 240, 1.0).read_bytes()
    body = {"student_id": student.json()["id"], "filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": len(data)}
    r = requests.post(f"{base}/customer/videos", headers=auth(customer), json={**body, "multipart": True}, timeout=30)
    assert r.status_code == 201, r.text
    video, mp = r.json()["video"], r.json()["multipart"]
    held = requests.get(f"{base}/customer/videos/{video['id']}/parts", headers=auth(customer), timeout=30)
    assert held.status_code == 200 and held.json()["missing"] == list(range(1, mp["part_count"] + 1)), held.text
    for p in mp["parts"]:
        chunk = data[(p["part_number"] - 1) * mp["part_size"] : p["part_number"] * mp["part_size"]]
        assert requests.put(p["url"], data=chunk, timeout=60).status_code == 200
    r = requests.post(f"{base}/customer/videos/{video['id']}/complete", headers=auth(customer), timeout=30)
    assert r.status_code == 202, r.text

    def done() -> dict[str, Any] | None:
        v = requests.get(f"{base}/admin/media/{video['id']}", headers=auth(admin), timeout=30).json()
        return v if (v.get("job") or {}).get("state") in ("succeeded", "failed") else None

    v = _poll(done, 180, "the video job")
    assert v["job"]["state"] == "succeeded", v["job"]
    assert v["variants"][0]["key"].endswith("/original-parts.mp4") and v["variant_count"] == 2

    r = requests.post(f"{base}/customer/videos", headers=auth(customer), json={**body, "multipart": True}, timeout=30)
    assert r.status_code == 201, r.text
    cancelled = requests.delete(f"{base}/customer/videos/{r.json()['video']['id']}/upload", headers=auth(customer), timeout=30)
    assert cancelled.status_code == 200 and cancelled.json() == {"cancelled": True}, cancelled.text


def test_a_scheduled_run_creates_the_task_instance_of_today(rehearsal: Rehearsal) -> None:
    base = f"{rehearsal.url}/api"
    admin, _ = rehearsal.sign_in("admin", "admin-smoke@example.com")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    body = {"title": "Read 20 pages", "recurrence": "daily", "timezone": "UTC", "starts_on": yesterday}
    r = requests.post(f"{base}/admin/tasks", headers=auth(admin), json=body, timeout=30)
    assert r.status_code == 201 and r.json()["instances_created"] == 1, r.text
    task_id = r.json()["task"]["id"]
    tick = subprocess.run(
        [str(Path(sys.executable).parent / "academy"), "tick", "--port", str(rehearsal.port)],
        env=rehearsal.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert " ran in " in tick.stdout
    today = datetime.now(UTC).date().isoformat()
    deadline = time.monotonic() + 60  # the hourly run enqueues a shard job; the jobs queue's function writes it
    while True:
        items = requests.get(f"{base}/admin/tasks/{task_id}/instances", headers=auth(admin), timeout=30).json()["items"]
        if len(items) > 1 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [i["date"] for i in items] == [yesterday, today]
    # The tick ran the integrity sweep too, under its own role: every check read its page (one denied call
    # would be logged as a failed check, which the sweep survives, so look at its log).
    log = ROOT / ".academy" / "rehearse" / str(rehearsal.port) / "logs" / "IntegritySweep.log"
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert not [x for x in lines if x.get("message") == "integrity check failed"], log.read_text()[-4000:]
    swept = [x["integrity"] for x in lines if x.get("message") == "integrity sweep"][-1]
    assert set(swept) == set(CHECKS) and not any(r.get("error") for r in swept.values()), swept


def test_the_console_button_repairs_a_finding_of_the_scheduled_sweep_under_the_apis_role(rehearsal: Rehearsal) -> None:
    """A schedule's row vanishes behind the product's back: the sweep (its role) files the orphan attendance,
    and the repair button (the API's role: the incident, the schedule check, the delete, the audit) removes it."""
    s, base = rehearsal.state, f"{rehearsal.url}/api"
    admin, _ = rehearsal.sign_in("admin", "admin-smoke@example.com")
    student = requests.post(
        f"{base}/admin/students", headers=auth(admin), json={"customer_id": "c-rep", "name": "Di"}, timeout=30
    )
    assert student.status_code == 201, student.text
    sid = student.json()["id"]
    when = {"starts_at": "2026-01-05T15:00:00Z", "ends_at": "2026-01-05T16:00:00Z"}
    sched = requests.post(
        f"{base}/admin/schedules", headers=auth(admin), json={"title": "Art", "student_ids": [sid], **when}, timeout=30
    )
    assert sched.status_code == 201, sched.text
    put = requests.put(
        f"{base}/admin/schedules/{sched.json()['id']}/attendance/2026-01-05/{sid}",
        headers=auth(admin),
        json={"status": "present"},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    rehearsal.client("dynamodb").delete_item(
        TableName=f"academy-{s['stage']}-schedules", Key={"id": {"S": sched.json()["id"]}}
    )  # drift: the attendance is now an orphan
    academy = str(Path(sys.executable).parent / "academy")
    tick = subprocess.run(
        [academy, "tick", "--port", str(rehearsal.port)], env=rehearsal.env, capture_output=True, text=True, timeout=300
    )
    assert tick.returncode == 0, tick.stdout + tick.stderr

    def finding() -> dict[str, Any] | None:
        q = f"{base}/admin/incidents?area=backend.integrity.attendance_orphans"
        for g in requests.get(q, headers=auth(admin), timeout=30).json()["items"]:
            items = requests.get(f"{base}/admin/incidents/groups/{g['group_id']}", headers=auth(admin), timeout=30).json()[
                "items"
            ]
            for i in items:
                if i["context"]["repair"]["schedule_id"] == sched.json()["id"]:
                    return i
        return None

    incident = _poll(finding, 30, "the integrity incident")
    r = requests.post(f"{base}/admin/integrity/repair", headers=auth(admin), json={"incident_id": incident["id"]}, timeout=30)
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    again = requests.post(f"{base}/admin/integrity/repair", headers=auth(admin), json={"incident_id": incident["id"]}, timeout=30)
    assert again.status_code == 200 and again.json()["changed"] is False, again.text


def test_a_poison_message_reaches_the_dead_letter_queue_and_shows_as_a_failed_job(rehearsal: Rehearsal) -> None:
    """A consumer that dies on the message every time (here: this test, receiving without deleting,
    while the RunJobs mapping is disabled): SQS's redrive moves it to the DLQ after maxReceiveCount,
    the deployed DLQ mapping hands it to JobsDeadLetters, and the ledger shows the job failed."""
    s = rehearsal.state
    lam, sqs = rehearsal.client("lambda"), rehearsal.client("sqs")
    jobs_queue = f"academy-{s['stage']}-jobs"
    mapping = next(
        m for m in lam.list_event_source_mappings()["EventSourceMappings"] if m["EventSourceArn"].endswith(f":{jobs_queue}")
    )
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    try:
        time.sleep(3)  # the poller notices within STATE_CHECK_S, then finishes its current long poll
        env = {
            **rehearsal.env,
            "AWS_ENDPOINT_URL": s["aws_endpoint"],
            "AWS_DEFAULT_REGION": s["region"],
            "ACADEMY_STAGE": s["stage"],
            "ACADEMY_BUCKET": s["bucket"],
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
        }
        code = "from chalicelib.jobs.dispatch import dispatch; print(dispatch('noop', {'poison': True})[0].job_id)"
        job_id = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
        ).stdout.split()[-1]
        url = sqs.get_queue_url(QueueName=jobs_queue)["QueueUrl"]
        max_receives = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
        )["maxReceiveCount"]
        received = 0
        for _ in range(int(max_receives) + 3):
            got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=1).get("Messages", [])
            if not got:
                break
            received += 1
        assert received == int(max_receives)
    finally:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    admin, _ = rehearsal.sign_in("admin", "admin-smoke@example.com")

    def failed() -> dict[str, Any] | None:
        job = requests.get(f"{rehearsal.url}/api/admin/jobs/{job_id}", headers=auth(admin), timeout=30).json()
        return job if job.get("state") == "failed" else None

    job = _poll(failed, 60, "the dead-lettered job")
    assert job["last_error"]["type"] == "DeadLetter", job
    control = requests.get(f"{s['control_url']}/functions", timeout=10).json()
    dead = next(f for f in control if f["logical_id"] == "JobsDeadLetters")
    assert dead["invocations"] >= 1 and dead["cold_starts"] >= 1 and dead["last_init_ms"] > 0


def test_a_removed_permission_is_access_denied_a_5xx_and_a_backend_incident(rehearsal: Rehearsal) -> None:
    """The APIHandler's role loses dynamodb:PutItem on the students table (an explicit Deny added to
    the deployed role): creating a student is a 500 envelope and a backend incident, not a success."""
    s = rehearsal.state
    if not s.get("iam_enforced"):
        pytest.skip("IAM enforcement (academy_cli/rehearse/iam.py) is not installed in this tree")
    cfn, iam = rehearsal.client("cloudformation"), rehearsal.client("iam")
    # (list, not describe_stack_resource: moto's describe trips over the resources it does not model, e.g. BucketPolicy)
    resources = cfn.list_stack_resources(StackName=s["stack_name"])["StackResourceSummaries"]
    role = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "ApiHandlerRole")
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": "dynamodb:PutItem",
                "Resource": f"arn:aws:dynamodb:{s['region']}:*:table/academy-{s['stage']}-students",
            }
        ],
    }
    admin, _ = rehearsal.sign_in("admin", "admin-smoke@example.com")
    base = f"{rehearsal.url}/api"
    iam.put_role_policy(RoleName=role, PolicyName="rehearsal-removed-permission", PolicyDocument=json.dumps(deny))
    try:
        requests.post(f"{s['control_url']}/recycle", timeout=30).raise_for_status()  # new instances read the role anew
        r = requests.post(
            f"{base}/admin/students", headers=auth(admin), json={"customer_id": "c-denied", "name": "Denied"}, timeout=30
        )
        assert r.status_code == 500, r.text
        assert r.json()["error"]["code"] == "internal_error" and "request_id" in r.json()["error"]["details"]
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName="rehearsal-removed-permission")
        requests.post(f"{s['control_url']}/recycle", timeout=30).raise_for_status()

    def incident() -> dict[str, Any] | None:
        groups = requests.get(f"{base}/admin/incidents?source=backend&limit=100", headers=auth(admin), timeout=30).json()["items"]
        return next((g for g in groups if "AccessDenied" in json.dumps(g["latest"]) and "students" in g["area"]), None)

    group = _poll(incident, 30, "the backend incident")
    assert group["http_status"] == 500
    r = requests.post(f"{base}/admin/students", headers=auth(admin), json={"customer_id": "c-ok", "name": "Allowed"}, timeout=30)
    assert r.status_code == 201, r.text  # the permission is back


def test_the_daily_work_routes_under_the_apis_role(rehearsal: Rehearsal) -> None:
    """Issue 17's routes on the real package with real IAM decisions: families, name search, weekly lessons
    with a cancelled date and a closure, a lesson's attendance, the missing report, homework review lists,
    monitors, and the family's own reads with a pool token (one denied call would be a 5xx here)."""
    base = f"{rehearsal.url}/api"
    admin, _ = rehearsal.sign_in("admin", "admin-smoke@example.com")
    parent, cid = rehearsal.sign_in("customer", "parent-daily@example.com")
    other, _ = rehearsal.sign_in("customer", "parent-other@example.com")

    def call(method: str, path: str, token: str = admin, body: Any = None, want: int = 200) -> Any:
        r = requests.request(method, f"{base}{path}", headers=auth(token), json=body, timeout=60)
        assert r.status_code == want, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else None

    family = {"customer_id": cid, "display_name": "The Smoke family", "contact_email": "smoke@example.com"}
    call("POST", "/admin/customers", body=family, want=201)
    call("POST", "/admin/customers", body=family)  # the same again: the same record
    assert call("GET", "/customer/profile", parent)["display_name"] == "The Smoke family"
    kid = call("POST", "/admin/students", body={"customer_id": cid, "name": "Smokey Kit", "timezone": "Europe/London"}, want=201)
    assert [s["id"] for s in call("GET", "/admin/students?q=smokey")["items"]] == [kid["id"]]
    assert [s["id"] for s in call("GET", f"/admin/customers/{cid}/students")["items"]] == [kid["id"]]

    today = datetime.now(UTC).date()
    first = today - timedelta(days=14)
    start = datetime.combine(first, datetime.min.time(), UTC) + timedelta(hours=16)
    sched = call(
        "POST",
        "/admin/schedules",
        body={
            "title": "Smoke piano",
            "student_ids": [kid["id"]],
            "starts_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ends_at": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "recurrence": "weekly",
        },
        want=201,
    )
    sid = sched["id"]
    holiday = (first + timedelta(days=21)).isoformat()
    call("PUT", f"/admin/schedules/{sid}/exceptions/{holiday}", body={"action": "cancel", "reason": "Holiday"})
    closed = (first + timedelta(days=28)).isoformat()
    closure = call("POST", "/admin/closures", body={"starts_on": closed, "ends_on": closed, "reason": "Inset day"}, want=201)
    saved = call(
        "PUT",
        f"/admin/schedules/{sid}/lessons/{first.isoformat()}/attendance",
        body={"records": [{"student_id": kid["id"], "status": "late"}]},
    )
    assert [a["status"] for a in saved["items"]] == ["late"]
    r = requests.put(
        f"{base}/admin/schedules/{sid}/lessons/{holiday}/attendance",
        headers=auth(admin),
        json={"records": [{"student_id": kid["id"], "status": "present"}]},
        timeout=60,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "lesson_cancelled", r.text
    lessons = call(
        "GET", f"/admin/schedules/{sid}/lessons?from={first.isoformat()}&to={(first + timedelta(days=35)).isoformat()}"
    )
    status = {lesson["date"]: lesson["status"] for lesson in lessons["items"]}
    assert status[holiday] == status[closed] == "cancelled" and status[first.isoformat()] == "scheduled"
    missing = call("GET", f"/admin/attendance/missing?from={first.isoformat()}&to={today.isoformat()}")
    assert any(m["date"] == (first + timedelta(days=7)).isoformat() for m in missing["items"]), missing
    assert [a["status"] for a in call("GET", f"/admin/students/{kid['id']}/attendance")["items"]] == ["late"]
    call("GET", "/admin/homework?status=uploaded")
    assert {m["name"] for m in call("GET", "/admin/monitors")["items"]} >= {"daily_task_instances", "integrity_sweep"}

    mine = call("GET", f"/customer/students/{kid['id']}/lessons?from={first.isoformat()}", parent)
    assert {lesson["date"]: lesson["status"] for lesson in mine["items"]}[holiday] == "cancelled"
    assert [a["status"] for a in call("GET", f"/customer/students/{kid['id']}/attendance", parent)["items"]] == ["late"]
    call("GET", f"/customer/students/{kid['id']}/tasks", parent)
    for path in ("lessons", "attendance", "tasks"):
        call("GET", f"/customer/students/{kid['id']}/{path}", other, want=404)
    call("DELETE", f"/admin/closures/{closure['id']}")
