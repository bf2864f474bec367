"""Rollups and the metrics API (issue 19): counters exact under concurrency and duplicate deliveries,
UTC bucket boundaries, O(buckets) reads, every bucket of the range present."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import rollups
from chalicelib.jobs import ledger, registry, states
from chalicelib.jobs.dispatch import dispatch
from chalicelib.metrics import service

TYPE = "t_rollup"


@pytest.fixture
def jobs(app):
    from chalicelib.core import aws

    aws.reset()
    rollups.BUFFER.take()
    rollups.CAPACITY.take()
    registry.register(TYPE, "jobs", "tests.jobfns:flaky", timeout_s=30)
    yield
    registry.JOB_TYPES.pop(TYPE, None)


def _series(step: str = "minute", job_type: str = TYPE) -> list[dict]:
    now = datetime.now(UTC)
    out = service.jobs(service.plan(now - timedelta(minutes=5), now + timedelta(minutes=1), step), job_type)
    return out["series"][0]["buckets"]


def _total(buckets: list[dict], field: str) -> int:
    return sum(b[field] for b in buckets)


def test_a_job_that_fails_then_succeeds_after_a_retry_is_counted_once_each(jobs):
    job, _ = dispatch(TYPE, {})
    run = ledger.start_run(job.job_id, stale_after_s=30)
    assert run is not None
    assert ledger.record_failure(job.job_id, run[1], "Boom", "x", final=False)  # transient: back to queued
    run = ledger.start_run(job.job_id, stale_after_s=30)
    assert run is not None
    assert ledger.finish(job.job_id, run[1], {"ok": True})
    assert not ledger.finish(job.job_id, run[1], {"ok": True})  # a redelivered success: refused, not counted
    assert ledger.start_run(job.job_id, stale_after_s=30) is None  # a redelivery after the end
    for step in ("minute", "hour"):
        b = _series(step)
        assert [_total(b, f) for f in ("enqueued", "started", "succeeded", "failed", "retried")] == [1, 2, 1, 0, 1]
        assert sum(x["run_ms"]["count"] for x in b) == 2  # both runs ended
        assert sum(x["wait_ms"]["count"] for x in b) == 2


def test_counters_exact_under_8_concurrent_workers(jobs):
    ids = [dispatch(TYPE, {})[0].job_id for _ in range(24)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i, job_id in enumerate(ids):
                claimed = ledger.start_run(job_id, stale_after_s=30)
                if claimed is not None:
                    if (i + n) % 3 == 0:
                        ledger.record_failure(job_id, claimed[1], "Boom", "x", final=True)
                    else:
                        ledger.finish(job_id, claimed[1], None)
                if n % 3 == 0:
                    ledger.requeue(job_id, states.RETRYABLE)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = list(ledger.Job.scan(consistent_read=True))
    mine = [j for j in rows if j.type == TYPE]
    b = _series()
    now = {st: sum(1 for j in mine if j.state == st) for st in states.STATES}
    t = {f: _total(b, f) for f in ("enqueued", "started", "succeeded", "failed", "retried")}
    assert t["enqueued"] == 24
    assert t["enqueued"] + t["retried"] == t["started"] + now[states.QUEUED]  # every entry into queued left it once, or is there
    assert t["started"] == t["succeeded"] + t["failed"] + now[states.RUNNING]  # every run ended once
    assert t["failed"] - (t["retried"]) == now[states.FAILED] - 0  # each retry here took a failed job back
    assert sum(x["run_ms"]["count"] for x in b) == t["succeeded"] + t["failed"]
    assert _total(b, "started") == sum(int(j.attempts) for j in mine)


def test_the_api_fills_every_bucket_and_refuses_too_many(client, tokens, jobs):
    dispatch(TYPE, {})
    r = client.http.get(f"/admin/metrics/jobs?type={TYPE}", headers=tokens.h(tokens.admin))
    assert r.status_code == 200, r.body
    body = json.loads(r.body)
    assert body["step"] == "minute"
    assert len(body["series"]) == 1 and len(body["series"][0]["buckets"]) in (1440, 1441)
    assert _total(body["series"][0]["buckets"], "enqueued") == 1
    r = client.http.get(
        "/admin/metrics/jobs?from=2026-01-01T00:00:00Z&to=2026-03-31T00:00:00Z&step=minute", headers=tokens.h(tokens.admin)
    )
    assert r.status_code == 400
    assert json.loads(r.body)["error"]["code"] in ("invalid_range", "validation_error")


# --- incidents --------------------------------------------------------------------------------------


def _get(client, tokens, path: str) -> dict:
    r = client.http.get(path, headers=tokens.h(tokens.admin))
    assert r.status_code == 200, r.body
    return json.loads(r.body)


def test_incident_intake_counts_per_group_and_total_flushed_once_per_invocation(client, tokens, jobs):
    import time

    rollups._capacity_flushed[0] = time.monotonic()  # the container's capacity figures are not due now
    calls = []
    real = rollups.write

    def counting(items):
        n = real(items)
        calls.append(n)
        return n

    body = {"area": "customers.homework.upload", "message": "boom", "location": "/x"}
    from unittest import mock

    with mock.patch.object(rollups, "write", counting):
        for _ in range(3):
            r = client.http.post("/incidents", headers=tokens.h(tokens.customer_a), body=json.dumps(body))
            assert r.status_code == 202, r.body
        r = client.http.post("/incidents", headers=tokens.h(tokens.customer_a), body=json.dumps({**body, "area": "admin.x"}))
    assert calls == [1, 1, 1, 1]  # one write per intake invocation (the minute and hour items in one call)
    out = _get(client, tokens, "/admin/metrics/incidents")
    assert out["step"] == "minute" and len(out["series"]) == 2
    by_area = {s["area"]: s for s in out["series"]}
    assert sum(b["stored"] + b["suppressed"] for b in by_area["customers.homework.upload"]["buckets"]) == 3
    assert sum(b["stored"] + b["suppressed"] for b in out["total"]) == 4
    assert all(len(s["buckets"]) == len(out["total"]) for s in out["series"])
    one = _get(client, tokens, "/admin/metrics/incidents?area=admin.x&step=hour")
    assert [s["area"] for s in one["series"]] == ["admin.x"]
    assert sum(b["stored"] + b["suppressed"] for b in one["total"]) == 1


# --- O(buckets) reads -----------------------------------------------------------------------------------


def _items_read(fn) -> int:
    from chalicelib.core.rollups import Rollup

    seen: list[int] = []
    events = Rollup._get_connection().connection.client.meta.events

    def hook(parsed, **_):
        seen.append(int(parsed.get("ScannedCount", 0)))

    events.register("after-call.dynamodb.Query", hook)
    try:
        fn()
    finally:
        events.unregister("after-call.dynamodb.Query", hook)
    return sum(seen)


def test_reads_cost_o_buckets_whatever_the_number_of_events(jobs):
    """A day of minute buckets with an event in each (batch-written, like the intake's flush leaves them),
    then 400 more events through the intake's buffer: the items read stay the buckets' number."""
    from chalicelib.core.rollups import Rollup

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=1439)
    client = Rollup._get_connection().connection.client
    for chunk in range(0, 1440, 25):
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        "series": {"S": "inc|m"},
                        "bucket": {"S": rollups.sort_key(start + timedelta(minutes=m))},
                        "g|stored|01GROUP|a.b": {"N": "1"},
                    }
                }
            }  # what one intake writes (service.incident_fields)
            for m in range(chunk, chunk + 25)
        ]
        client.batch_write_item(RequestItems={Rollup.Meta.table_name: puts})
    end = now + timedelta(minutes=1)
    reads = []
    for extra in (0, 400):
        for n in range(extra):
            service.count_incident("01GROUP", "a.b", True, start + timedelta(minutes=1400 + n % 40, seconds=n % 60))
        rollups.flush()
        last_hour = _items_read(lambda: service.incidents(service.plan(end - timedelta(minutes=60), end, "minute", now)))
        whole_day = _items_read(lambda: service.incidents(service.plan(start, end, "minute", now)))
        reads.append((last_hour, whole_day))
        out = service.incidents(service.plan(start, end, "minute", now))
        assert sum(b["stored"] for b in out["total"]) == 1440 + extra
    assert reads == [(60, 1440), (60, 1440)]  # one item per bucket: never the events


# --- scheduler and media ----------------------------------------------------------------------------------


def test_scheduler_runs_are_counted_with_the_instances_they_created(client, app, tokens, jobs):
    """The hourly run fans out to shard jobs; the instances they create count under its series (not as runs)."""
    from chalice.test import Client

    from tests.functional.test_schedules import drain_jobs

    r = client.http.post(
        "/admin/tasks",
        headers=tokens.h(tokens.admin),
        body=json.dumps({"title": "Read", "recurrence": "daily", "timezone": "Pacific/Kiritimati"}),
    )
    assert r.status_code == 201, r.body
    from chalicelib.tasks.store import TaskInstance

    for row in TaskInstance.scan():  # the creation's own instance: gone, so the scheduler has one to make
        row.delete()
    import app as _app

    with Client(_app.app) as c:
        event = c.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])
        for _ in range(2):  # EventBridge may deliver twice: the same hour's shard jobs, enqueued once
            c.lambda_.invoke("daily_task_instances", event)
    drain_jobs(app)  # the shard job makes today's instance again
    assert sum(1 for _ in TaskInstance.scan()) == 1
    out = _get(client, tokens, "/admin/metrics/scheduler")
    (series,) = out["series"]
    assert series["function"] == "daily_task_instances"
    assert sum(b["runs"] for b in series["buckets"]) == 2
    assert sum(b["created"] for b in series["buckets"]) == 1


@pytest.mark.slow
def test_a_processed_video_adds_its_bytes_seconds_and_peak_memory_once(client, tokens, jobs, tmp_path):
    from tests.media_support import make_clip, post, run_media_queue, upload_file_to

    clip = make_clip(tmp_path / "c.mp4", 640, 360, seconds=2)
    student = post(client, "/admin/students", tokens.admin, {"customer_id": "cust-a", "name": "Ada"}).json_body["id"]
    body = {"student_id": student, "filename": "p.mp4", "content_type": "video/mp4", "size_bytes": clip.stat().st_size}
    r = post(client, "/customer/videos", tokens.customer_a, body)
    upload_file_to(r.json_body["upload"]["fields"]["key"], clip, "video/mp4")
    video_id = r.json_body["video"]["id"]
    assert post(client, f"/customer/videos/{video_id}/complete", tokens.customer_a).status_code == 202
    results = run_media_queue()
    assert results and not results[0]["batchItemFailures"]
    out = _get(client, tokens, "/admin/metrics/media")
    done = [b for b in out["buckets"] if b["jobs"]]
    assert len(done) == 1 and done[0]["jobs"] == 1
    b = done[0]
    assert b["bytes_in"] == clip.stat().st_size and b["bytes_out"] > 0
    assert (
        abs(b["video_seconds"] - 2) < 0.3
        and b["worker_seconds"] > 0
        and b["gb_seconds"] == pytest.approx(b["worker_seconds"] / 2, rel=0.01)
    )
    assert b["peak_memory_mb"] and b["peak_memory_mb"] > 10
    cost = out["cost"]
    assert cost["gb_seconds_per_video_minute"] > 0 and cost["mediaconvert_usd_per_video_minute"] == 0.015
    assert sum(d["video_minutes"] for d in cost["per_day"]) == pytest.approx(b["video_seconds"] / 60, abs=1e-3)
    jobs_out = _get(client, tokens, "/admin/metrics/jobs?type=process_video_proof")
    assert sum(x["succeeded"] for x in jobs_out["series"][0]["buckets"]) == 1


def test_capacity_per_route_is_counted_without_a_write_per_request(client, tokens, jobs):
    import time
    from unittest import mock

    rollups._capacity_flushed[0] = time.monotonic()  # as if the container had just written its figures
    calls = []
    real = rollups.write
    with mock.patch.object(rollups, "write", lambda items: calls.append(len(items)) or real(items)):
        for _ in range(3):
            assert client.http.get("/admin/jobs/summary", headers=tokens.h(tokens.admin)).status_code == 200
    assert calls == []  # GETs add no write: their figures wait for the minute's flush
    rollups.flush(force=True)
    out = _get(client, tokens, "/admin/metrics/capacity")
    by_route = {r["route"]: r for r in out["routes"]}
    summary = by_route["GET /admin/jobs/summary"]
    assert summary["requests"] == 3 and summary["read_units_per_request"] > 0
    assert out["prices_as_of"] and out["usd_per_million_write_units"] > 0


@pytest.mark.parametrize("route", ["jobs", "incidents", "media", "scheduler", "capacity"])
@pytest.mark.parametrize(
    "query",
    [
        "from=0001-01-01T00:00:00Z",
        "to=0001-01-01T00:00:00Z",
        "to=9999-12-31T23:59:59Z",
        "from=9999-12-31T23:59:59%2B14:00&step=minute",
        "from=2026-12-04T00:00:00-12:00&to=2026-12-04T00:00:00%2B14:00",
        "step=second",
        "from=yesterday",
    ],
)
def test_odd_ranges_are_a_clear_400_or_served_never_a_500(client, tokens, route, query):
    r = client.http.get(f"/admin/metrics/{route}?{query}", headers=tokens.h(tokens.admin))
    assert r.status_code in (200, 400), r.body
    if r.status_code == 400:
        assert json.loads(r.body)["error"]["details"]
