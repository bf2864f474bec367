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
    assert _total(b, "enqueued") == 24
    # every job started once per run; each run ended once (succeeded, failed, or still running none)
    assert _total(b, "succeeded") == sum(1 for j in mine if j.state == states.SUCCEEDED) + 0
    succeeded_now = sum(1 for j in mine if j.state == states.SUCCEEDED)
    failed_now = sum(1 for j in mine if j.state == states.FAILED)
    queued_now = sum(1 for j in mine if j.state == states.QUEUED)
    assert _total(b, "succeeded") == succeeded_now
    # a failed job may have been retried (→ queued): failed counted = failed now + those requeued from failed
    assert _total(b, "failed") - _total(b, "retried") == failed_now - queued_now
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
