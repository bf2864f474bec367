"""Schedules and attendance: CRUD, filters, upsert rules, and the cascade delete (inline and by job)."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest

START = "2025-01-06T16:00:00Z"  # a Monday
END = "2025-01-06T17:00:00Z"


def call(client, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    kw = {"headers": headers}
    if body is not None:
        kw["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return getattr(client.http, method)(path, **kw)


@pytest.fixture
def students(client, tokens):
    out = []
    for name, cust in (("Ada", "cust-a"), ("Bob", "cust-a"), ("Cyd", "cust-b")):
        r = call(client, "post", "/admin/students", tokens.admin, {"customer_id": cust, "name": name})
        assert r.status_code == 201
        out.append(r.json_body["id"])
    return out


def make_schedule(client, tokens, student_ids, **kw):
    body = {"title": "Maths", "student_ids": student_ids, "starts_at": START, "ends_at": END, "recurrence": "weekly", **kw}
    r = call(client, "post", "/admin/schedules", tokens.admin, body)
    assert r.status_code == 201, r.body
    return r.json_body


def seed_attendance(schedule_id: str, student_ids: list[str], n: int) -> None:
    from chalicelib.schedules import service
    from chalicelib.schedules.store import Schedule

    s = Schedule.get(schedule_id)
    first = date(2025, 1, 6)
    recs = [(first + timedelta(weeks=i // len(student_ids)), student_ids[i % len(student_ids)], "present") for i in range(n)]
    assert service.bulk_put_attendance(s, recs) == n


def attendance_count(schedule_id: str) -> int:
    from chalicelib.schedules.store import Attendance

    return sum(1 for _ in Attendance.query(schedule_id, consistent_read=True))


def members_of(schedule_id: str, student_ids: list[str]) -> int:
    from chalicelib.schedules.store import ScheduleMember

    return sum(1 for s in student_ids for _ in ScheduleMember.query(s, ScheduleMember.schedule_id == schedule_id))


def drain_jobs(app, max_rounds: int = 50) -> int:
    """Receive from the real (moto) jobs queue and hand batches to the app's SQS handler."""
    from academy_cli.pump import drain_once
    from chalicelib.core import aws
    from chalicelib.jobs.queues import QUEUES

    sqs = aws.client("sqs")
    url = aws.queue_url(QUEUES["jobs"].name)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    total = 0
    for _ in range(max_rounds):
        received, _failed = drain_once(sqs, url, arn, app.handler_map["run_jobs"])
        if not received:
            return total
        total += received
    return total


def tune_delete_job(monkeypatch, tuning) -> None:
    """The ``delete_schedule`` job type runs with ``tuning`` (its body's seam) for the rest of the test."""
    from dataclasses import replace
    from functools import partial

    from chalicelib.jobs import registry
    from chalicelib.schedules import service

    tuned = replace(registry.get("delete_schedule"), fn=partial(service.run_delete_job, tuning=tuning))
    monkeypatch.setitem(registry.JOB_TYPES, "delete_schedule", tuned)


def run_job_directly(job_id: str) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.jobs.worker import run_record

    record = SQSRecord(
        {
            "messageId": f"m-{job_id}",
            "receiptHandle": "not-a-real-handle",
            "body": json.dumps({"job_id": job_id, "type": "delete_schedule", "v": 1}),
            "attributes": {"ApproximateReceiveCount": "1"},
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:academy-test-jobs",
        }
    )
    run_record(record, "jobs")


# --- create / read ---------------------------------------------------------------------------------


def test_create_get_list_and_student_filter(client, tokens, students):
    a, b, c = students
    s1 = make_schedule(client, tokens, [a, b])
    s2 = make_schedule(client, tokens, [c], recurrence="none", starts_at="2025-03-01T10:00:00Z", ends_at="2025-03-01T11:00:00Z")
    assert s1["starts_at"] == "2025-01-06T16:00:00.000Z" and s1["recurrence"] == "weekly" and s1["student_ids"] == [a, b]
    assert call(client, "get", f"/admin/schedules/{s1['id']}", tokens.admin).json_body == s1
    ids = [s["id"] for s in call(client, "get", "/admin/schedules", tokens.admin).json_body["items"]]
    assert ids == [s1["id"], s2["id"]]
    only_c = call(client, "get", f"/admin/schedules?student_id={c}", tokens.admin).json_body["items"]
    assert [s["id"] for s in only_c] == [s2["id"]]
    # from/to: the one-off on 1 March is outside February; the open-ended weekly one is inside.
    feb = call(client, "get", "/admin/schedules?from=2025-02-01&to=2025-02-28", tokens.admin).json_body["items"]
    assert [s["id"] for s in feb] == [s1["id"]]
    before = call(client, "get", f"/admin/schedules?student_id={a}&to=2025-01-01", tokens.admin).json_body["items"]
    assert before == []


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"student_ids": []}, "student_ids"),
        ({"student_ids": "abc"}, "student_ids"),
        ({"starts_at": "yesterday"}, "starts_at"),
        ({"starts_at": "2025-01-06T16:00:00"}, "starts_at"),  # naive: refused
        ({"ends_at": "2025-01-06T15:00:00Z"}, "(body)"),
        ({"recurrence": "monthly"}, "recurrence"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_schedule_bodies_are_400(client, tokens, students, patch, field):
    body = {"title": "T", "student_ids": students[:1], "starts_at": START, "ends_at": END, **patch}
    r = call(client, "post", "/admin/schedules", tokens.admin, body)
    assert r.status_code == 400, r.body
    assert any(k.startswith(field) or k == field for k in r.json_body["error"]["details"]["fields"]), r.json_body


def test_unknown_students_are_400_and_customers_are_403(client, tokens, students):
    body = {"title": "T", "student_ids": [students[0], "01UNKNOWN"], "starts_at": START, "ends_at": END}
    r = call(client, "post", "/admin/schedules", tokens.admin, body)
    assert r.status_code == 400 and r.json_body["error"]["code"] == "unknown_students"
    assert r.json_body["error"]["details"]["unknown"] == ["01UNKNOWN"]
    assert call(client, "post", "/admin/schedules", tokens.customer_a, body).status_code == 403
    assert call(client, "get", "/admin/schedules", tokens.customer_a).status_code == 403
    assert call(client, "get", "/admin/schedules/01NOPE", tokens.admin).status_code == 404
    assert call(client, "get", "/admin/schedules?from=2025-13-01", tokens.admin).status_code == 400
    assert call(client, "get", "/admin/schedules?from=2025-02-01&to=2025-01-01", tokens.admin).status_code == 400


# --- attendance ------------------------------------------------------------------------------------


def test_attendance_upsert_and_rules(client, tokens, students):
    a, b, c = students
    s = make_schedule(client, tokens, [a, b])
    path = f"/admin/schedules/{s['id']}/attendance"
    r = call(client, "put", f"{path}/2025-01-13/{a}", tokens.admin, {"status": "present", "note": "on time"})
    assert r.status_code == 200, r.body
    first = r.json_body
    r = call(client, "put", f"{path}/2025-01-13/{a}", tokens.admin, {"status": "late"})
    assert r.status_code == 200 and r.json_body["status"] == "late" and r.json_body["note"] is None
    assert r.json_body["created_at"] == first["created_at"]
    call(client, "put", f"{path}/2025-01-06/{b}", tokens.admin, {"status": "absent"})
    items = call(client, "get", path, tokens.admin).json_body["items"]
    assert [(i["date"], i["student_id"], i["status"]) for i in items] == [("2025-01-06", b, "absent"), ("2025-01-13", a, "late")]
    assert call(client, "get", f"{path}?from=2025-01-10", tokens.admin).json_body["items"][0]["date"] == "2025-01-13"
    # a student not on the schedule, a date without a session, bad values: 400; unknown schedule: 404.
    r = call(client, "put", f"{path}/2025-01-13/{c}", tokens.admin, {"status": "present"})
    assert r.status_code == 400 and r.json_body["error"]["code"] == "student_not_on_schedule"
    r = call(client, "put", f"{path}/2025-01-14/{a}", tokens.admin, {"status": "present"})
    assert r.status_code == 400 and r.json_body["error"]["code"] == "not_a_session_date"
    for bad_date in ("2025-02-30", "13-01-2025", "2025-1-6"):
        assert call(client, "put", f"{path}/{bad_date}/{a}", tokens.admin, {"status": "present"}).status_code == 400
    assert call(client, "put", f"{path}/2025-01-13/{a}", tokens.admin, {"status": "sleeping"}).status_code == 400
    assert call(client, "put", f"{path}/2025-01-13/{a}", tokens.admin, {"status": 1}).status_code == 400
    r = call(client, "put", f"/admin/schedules/01NOPE/attendance/2025-01-13/{a}", tokens.admin, {"status": "present"})
    assert r.status_code == 404
    assert call(client, "put", f"{path}/2025-01-13/{a}", tokens.customer_a, {"status": "present"}).status_code == 403


# --- cascade delete ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 99])
def test_delete_inline_in_one_transaction(client, tokens, students, n):
    s = make_schedule(client, tokens, students[:2])
    seed_attendance(s["id"], students[:2], n)
    r = call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin)
    assert r.status_code == 200, r.body
    assert r.json_body == {"deleted": True, "attendance_deleted": n}
    assert attendance_count(s["id"]) == 0 and members_of(s["id"], students[:2]) == 0
    assert call(client, "get", f"/admin/schedules/{s['id']}", tokens.admin).status_code == 404
    assert call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin).status_code == 404
    audit = call(client, "get", "/admin/audit?action=schedule.delete", tokens.admin).json_body["items"]
    assert audit[0]["target"] == f"schedule:{s['id']}"


@pytest.mark.parametrize("n", [100, 1000])
def test_delete_large_by_job(client, app, tokens, students, n):
    s = make_schedule(client, tokens, students)
    seed_attendance(s["id"], students, n)
    r = call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin)
    assert r.status_code == 202, r.body
    assert r.json_body["status"] == "deleting" and r.json_body["job_id"]
    # hidden from every read at once; writes refused; deleting again → the same job.
    assert call(client, "get", f"/admin/schedules/{s['id']}", tokens.admin).status_code == 404
    assert call(client, "get", f"/admin/schedules/{s['id']}/attendance", tokens.admin).status_code == 404
    assert s["id"] not in [x["id"] for x in call(client, "get", "/admin/schedules", tokens.admin).json_body["items"]]
    listed = call(client, "get", f"/admin/schedules?student_id={students[0]}", tokens.admin).json_body["items"]
    assert s["id"] not in [x["id"] for x in listed]
    w = call(client, "put", f"/admin/schedules/{s['id']}/attendance/2025-01-06/{students[0]}", tokens.admin, {"status": "late"})
    assert w.status_code == 409 and w.json_body["error"]["code"] == "schedule_deleting"
    again = call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin)
    assert again.status_code == 202 and again.json_body["job_id"] == r.json_body["job_id"]
    drain_jobs(app)
    assert attendance_count(s["id"]) == 0 and members_of(s["id"], students) == 0
    from chalicelib.jobs import ledger
    from chalicelib.schedules import store as schedules

    assert schedules.find(s["id"]) is None
    job = ledger.get(r.json_body["job_id"])
    assert job.state == "succeeded" and job.result == {"schedule_id": s["id"], "attendance_deleted": n}
    assert call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin).status_code == 404


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the worker catches it."""


@pytest.mark.parametrize("crash", [RuntimeError, Killed])
def test_crash_between_chunks_resumes_without_orphans(client, tokens, students, monkeypatch, crash):
    from chalicelib.jobs import ledger
    from chalicelib.jobs.ledger import Job
    from chalicelib.schedules import store as schedules
    from chalicelib.schedules.domain import DeleteTuning

    s = make_schedule(client, tokens, students)
    seed_attendance(s["id"], students, 450)
    # Intercept the job's SQS message so the test controls when (and how often) the job runs.
    monkeypatch.setattr("chalicelib.jobs.dispatch.send", lambda job: None)
    r = call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin)
    job_id = r.json_body["job_id"]

    def die(deleted: int) -> None:
        if deleted >= 200:
            raise crash("died between chunks")

    tune_delete_job(monkeypatch, DeleteTuning(chunk=100, after_chunk=die))
    try:
        run_job_directly(job_id)
    except Exception:  # noqa: BLE001 - a transient failure: the worker re-raises so SQS redelivers
        assert ledger.get(job_id).state == "queued"
    except Killed:
        # The process "died": the ledger still says running; SQS redelivers after the visibility
        # timeout and the next worker takes the job over once its heartbeat is stale.
        from datetime import timedelta

        from chalicelib.core.db import utcnow

        Job(job_id=job_id).update(actions=[Job.heartbeat_at.set(utcnow() - timedelta(hours=1))])
    assert attendance_count(s["id"]) == 250
    assert call(client, "get", f"/admin/schedules/{s['id']}", tokens.admin).status_code == 404
    tune_delete_job(monkeypatch, DeleteTuning(chunk=100))
    run_job_directly(job_id)
    assert attendance_count(s["id"]) == 0 and schedules.find(s["id"]) is None
    assert members_of(s["id"], students) == 0
    assert ledger.get(job_id).state == "succeeded"


def test_delete_job_reads_keys_in_few_pages_and_deletes_in_batches_of_25(client, tokens, students):
    """1,000 records: one probe (≤ 100 keys) at the request, then one full keys-only pass and one empty
    check in the job; 40 BatchWriteItems of 25. (It used to re-query the partition for every chunk.)"""
    from chalicelib.schedules import store as schedules

    s = make_schedule(client, tokens, students)
    seed_attendance(s["id"], students, 1000)
    table = schedules.Attendance.Meta.table_name
    seen: list[tuple[str, int]] = []

    def count(params, model, **_) -> None:
        if params.get("TableName") == table:
            seen.append((model.name, 0))
        elif table in params.get("RequestItems", {}):
            seen.append((model.name, len(params["RequestItems"][table])))

    events = schedules.Attendance._get_connection().connection.client.meta.events
    events.register("before-parameter-build.dynamodb", count)
    try:
        r = call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin)
        run_job_directly(r.json_body["job_id"])
    finally:
        events.unregister("before-parameter-build.dynamodb", count)
    queries = [n for op, n in seen if op == "Query"]
    batches = [n for op, n in seen if op == "BatchWriteItem"]
    assert len(queries) == 3 and len(batches) == 40 and set(batches) == {25}, seen[:5]
    assert attendance_count(s["id"]) == 0 and schedules.find(s["id"]) is None


def test_delete_job_heartbeats_on_time_not_per_chunk(client, tokens, students):
    from types import SimpleNamespace

    from chalicelib.schedules import service
    from chalicelib.schedules.domain import DeleteTuning

    beats: list[int] = []
    ctx = SimpleNamespace(heartbeat=lambda: beats.append(1), remaining_ms=lambda: 600_000)
    for every, expected in ((DeleteTuning().heartbeat_every_s, 0), (0.0, 5)):
        tuning = DeleteTuning(chunk=100, heartbeat_every_s=every)
        s = make_schedule(client, tokens, students)
        seed_attendance(s["id"], students, 450)
        beats.clear()
        job = SimpleNamespace(job_id=f"job-{every}", payload={"schedule_id": s["id"]})
        assert service.run_delete_job(job, ctx, tuning) == {"schedule_id": s["id"], "attendance_deleted": 450}
        assert len(beats) == expected and attendance_count(s["id"]) == 0


def test_attendance_written_between_listing_and_inline_delete_cannot_survive(client, tokens, students):
    """The interleaving that would orphan a record: the delete lists 3 records, a write lands, the
    delete commits. The delete's transaction is conditioned on the schedule's rev, so it retries.
    The write lands at the AWS client, right after the delete's listing query has answered."""
    from chalicelib.schedules import service
    from chalicelib.schedules.store import Attendance

    a = students[0]
    s = make_schedule(client, tokens, [a])
    seed_attendance(s["id"], [a], 3)
    raced = []

    def listing_then_write(**_) -> None:
        if not raced:
            raced.append(service.put_attendance(s["id"], date(2025, 6, 2), a, "present", None, "admin-2"))

    events = Attendance._get_connection().connection.client.meta.events
    events.register("after-call.dynamodb.Query", listing_then_write, unique_id="race-after-listing")
    try:
        r = call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin)
    finally:
        events.unregister("after-call.dynamodb.Query", unique_id="race-after-listing")
    assert raced
    assert r.status_code == 200 and r.json_body == {"deleted": True, "attendance_deleted": 4}
    assert attendance_count(s["id"]) == 0


def test_concurrent_attendance_writes_during_large_delete_never_survive(client, app, tokens, students):
    from chalicelib.core.errors import DomainError
    from chalicelib.schedules import service
    from chalicelib.schedules import store as schedules

    a = students[0]
    s = make_schedule(client, tokens, [a])
    seed_attendance(s["id"], [a], 150)
    outcomes: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        week = 0
        while not stop.is_set() and week < 400:
            day = date(2028, 1, 3) + timedelta(weeks=week)
            try:
                service.put_attendance(s["id"], day, a, "present", None, "admin-2")
                outcomes.append("written")
            except DomainError as exc:
                outcomes.append(exc.code)
            week += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        r = call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin)
        assert r.status_code in (200, 202), r.body
        drain_jobs(app)
    finally:
        stop.set()
        t.join(timeout=60)
    drain_jobs(app)
    assert "written" in outcomes and set(outcomes) - {"written"} <= {"schedule_deleting", "schedule_not_found"}
    assert attendance_count(s["id"]) == 0 and schedules.find(s["id"]) is None


def test_delete_bad_ids_and_roles(client, tokens):
    assert call(client, "delete", "/admin/schedules/01NOPE", tokens.admin).status_code == 404
    assert call(client, "delete", "/admin/schedules/bad%20id", tokens.admin).status_code in (400, 404)
    assert call(client, "delete", "/admin/schedules/01NOPE", tokens.customer_a).status_code == 403


def test_a_delete_request_killed_before_it_hid_the_schedule_is_finished_by_its_job(client, app, tokens, students, monkeypatch):
    """The request dispatches the job first, then marks the schedule deleting; killed in between, the
    schedule is still there and unmarked, and the job marks it itself (its own UpdateItem) before deleting."""
    from chalicelib.schedules import store as schedules

    s = make_schedule(client, tokens, students)
    seed_attendance(s["id"], students, 100)
    real = schedules.mark_deleting

    def killed(*_args: object, **_kwargs: object) -> bool:
        raise Killed()

    monkeypatch.setattr(schedules, "mark_deleting", killed)
    with pytest.raises(Killed):
        call(client, "delete", f"/admin/schedules/{s['id']}", tokens.admin)
    monkeypatch.setattr(schedules, "mark_deleting", real)
    assert schedules.find(s["id"]).state != "deleting"  # the request died before hiding it
    drain_jobs(app)
    assert attendance_count(s["id"]) == 0 and members_of(s["id"], students) == 0
    assert schedules.find(s["id"]) is None
