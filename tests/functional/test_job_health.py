"""Job health signals (chalicelib/jobs/health.py): job.first_failure, job.failure_rate, job.stuck, job.waiting and
dlq.not_empty — each once per occurrence under concurrent workers, duplicate deliveries and repeated watchdogs."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.alerts import signals
from chalicelib.core.db import iso, utcnow
from chalicelib.core.settings import get_settings
from chalicelib.jobs import health, ledger, registry, states, worker
from chalicelib.jobs.dispatch import dispatch
from chalicelib.jobs.queues import QUEUES
from tests import jobfns
from tests.dynamo_calls import DynamoCalls


@pytest.fixture
def runtime(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from chalicelib.core import aws

    aws.reset()
    jobfns.reset()
    registry.register("h_ok", "jobs", "tests.jobfns:flaky", timeout_s=30)
    registry.register("h_bad", "jobs", "tests.jobfns:bad_input", timeout_s=30)
    monkeypatch.setattr(worker, "POLICY", worker.Policy(retry_delay_s=lambda n: 0))
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    sqs = boto3.client("sqs")

    class Runtime:
        def url(self, name: str) -> str:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])

        def pump(self) -> None:
            from academy_cli.pump import drain_once

            name = get_settings().queue_name("jobs")
            arn = sqs.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for _ in range(20):
                if drain_once(sqs, self.url(name), arn, app.handler_map["run_jobs"], batch_size=10) == (0, 0):
                    break

        def resend(self, job_id: str) -> None:
            """The same job's message delivered again (SQS is at least once)."""
            sqs.send_message(QueueUrl=self.url(QUEUES["jobs"].name), MessageBody=json.dumps({"job_id": job_id}))

    yield Runtime()
    for name in ("h_ok", "h_bad"):
        registry.JOB_TYPES.pop(name, None)


@pytest.fixture
def seen() -> Iterator[list[signals.Signal]]:
    with signals.recording() as out:
        yield out


def kinds(seen: list[signals.Signal], kind: str) -> list[signals.Signal]:
    return [s for s in seen if s.kind == kind]


def ok(n: int = 1) -> None:
    for _ in range(n):
        dispatch("h_ok", {"key": uuid.uuid4().hex})


def bad(n: int = 1) -> list[str]:
    return [dispatch("h_bad", {"key": uuid.uuid4().hex})[0].job_id for _ in range(n)]


# --- job.first_failure -------------------------------------------------------------------------------


def test_first_failure_after_a_success_is_signalled_once(runtime, seen):
    [before] = bad()  # failures before any success: not "after a success"
    runtime.pump()
    assert kinds(seen, "job.first_failure") == []
    registry.register("h_bad", "jobs", "tests.jobfns:flaky", timeout_s=30)  # the type works again
    dispatch("h_bad", {"key": "fixed"})
    runtime.pump()
    registry.register("h_bad", "jobs", "tests.jobfns:bad_input", timeout_s=30)  # and breaks
    first, _second = bad(2)  # the second failure is not a "first" one
    runtime.pump()
    [sig] = kinds(seen, "job.first_failure")
    assert (sig.subject, sig.occurrence) == ("h_bad", first)  # the first failing job; the second is not a "first"
    assert sig.scope == signals.Scope(job_type="h_bad", source="jobs") and sig.detail["succeeded_total"] == 1
    assert sig.detail["error_type"] == "PermanentJobError" and sig.link == "/console/admin/jobs?tab=failed"
    runtime.resend(first)  # a duplicate delivery of the failed job: the worker skips it, nothing new
    runtime.pump()
    assert len(kinds(seen, "job.first_failure")) == 1 and before not in {s.occurrence for s in seen}


def test_concurrent_failures_after_a_success_signal_one_first_failure(runtime, seen):
    dispatch("h_bad", {"key": "x"})
    registry.register("h_bad", "jobs", "tests.jobfns:flaky", timeout_s=30)
    runtime.pump()  # one success
    registry.register("h_bad", "jobs", "tests.jobfns:bad_input", timeout_s=30)
    ids = bad(8)
    runs = [ledger.start_run(j, stale_after_s=30) for j in ids]
    barrier = threading.Barrier(8, timeout=10)

    def fail(job_id: str, run_id: str) -> None:
        barrier.wait()
        ledger.record_failure(job_id, run_id, "Boom", "x", final=True)
        ledger.record_failure(job_id, run_id, "Boom", "x", final=True)  # the same failure twice: refused

    threads = [threading.Thread(target=fail, args=(j, r[1])) for j, r in zip(ids, runs, strict=True) if r]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    signalled = kinds(seen, "job.first_failure")
    assert len(signalled) == 1 and signalled[0].occurrence in ids


def test_a_success_costs_no_extra_call_and_a_final_failure_two(runtime, seen):
    job, _ = dispatch("h_ok", {"key": "cost"})
    claimed = ledger.start_run(job.job_id, stale_after_s=30)
    assert claimed is not None
    with DynamoCalls() as calls:
        ledger.finish(job.job_id, claimed[1], None)
    assert calls.ops == ["GetItem", "TransactWriteItems"]  # the state read and the transition: nothing added
    expected = {
        "h_bad": ["GetItem", "TransactWriteItems", "BatchGetItem"],  # never succeeded: the counters only
        "h_ok": ["GetItem", "TransactWriteItems", "BatchGetItem", "UpdateItem"],  # + the claim (it wins: a signal)
    }
    for job_type, ops in [*expected.items(), ("h_ok", expected["h_bad"])]:  # h_ok again: no success since, no write
        failing, _ = dispatch(job_type, {"key": "cost"})
        claimed = ledger.start_run(failing.job_id, stale_after_s=30)
        assert claimed is not None
        with DynamoCalls() as calls:
            ledger.record_failure(failing.job_id, claimed[1], "Boom", "x", final=True)
        assert calls.ops == ops, job_type
    assert [s.subject for s in kinds(seen, "job.first_failure")] == ["h_ok"]


def test_a_broken_health_check_never_breaks_the_failure_path(runtime, monkeypatch):
    from chalicelib.jobs import counts

    def down(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("counters unavailable")

    [job_id] = bad()
    claimed = ledger.start_run(job_id, stale_after_s=30)
    assert claimed is not None
    monkeypatch.setattr(counts, "read_rows", down)
    assert ledger.record_failure(job_id, claimed[1], "Boom", "x", final=True) is True
    assert ledger.get(job_id).state == states.FAILED


# --- the watchdog's evaluation -----------------------------------------------------------------------


def test_failure_rate_over_a_window_is_signalled_once_per_window(runtime, seen):
    now = utcnow()
    assert health.evaluate(now)["failure_rate"] == 0  # the first snapshot: no baseline yet
    ok(1)
    bad(3)
    runtime.pump()
    later = now + timedelta(seconds=health.LIMITS.window_s)
    outs: list[dict[str, int]] = []
    barrier = threading.Barrier(4, timeout=10)

    def run() -> None:
        barrier.wait()
        outs.append(health.evaluate(later))

    threads = [threading.Thread(target=run) for _ in range(4)]  # concurrent watchdog runs
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    health.evaluate(later + timedelta(minutes=5))  # another run in the same window
    [sig] = kinds(seen, "job.failure_rate")
    start = datetime.fromtimestamp(health.window_start(now, health.LIMITS.window_s), UTC)
    assert (sig.subject, sig.occurrence) == ("h_bad", iso(start))
    assert (sig.detail["failed"], sig.detail["succeeded"], sig.detail["jobs"], sig.detail["rate"]) == (3, 0, 3, 1.0)
    assert sig.detail["window_minutes"] == 15 and sum(o["failure_rate"] for o in outs) == 1
    ok(4)  # h_ok: all good; h_bad: no outcome in the next window
    runtime.pump()
    assert health.evaluate(later + timedelta(seconds=health.LIMITS.window_s))["failure_rate"] == 0


def test_a_low_rate_or_too_few_jobs_is_not_signalled(runtime, seen):
    assert health.high_rates({"a": [0, 0]}, {"a": [2, 0], "b": [1, 9], "c": [3, 3]}, health.LIMITS) == [
        health.Rate("c", 3, 3)
    ]  # a: 2 jobs < min_jobs 3; b: 10 % < 20 %
    assert health.high_rates({"c": [3, 3]}, {"c": [3, 3]}, health.LIMITS) == []  # nothing new in the window


def test_stuck_and_waiting_jobs_are_signalled_once_each(runtime, seen):
    running, _ = dispatch("h_ok", {"key": "long"})
    assert ledger.start_run(running.job_id, stale_after_s=30) is not None  # a worker took it, then went silent
    waiting, _ = dispatch("h_ok", {"key": "queued"})  # never delivered
    at = utcnow() + timedelta(minutes=40)  # past the 30 s timeout and the 30 min wait
    first = health.evaluate(at)
    again = health.evaluate(at + timedelta(minutes=5))
    assert (first["stuck"], first["waiting"], again["stuck"], again["waiting"]) == (1, 1, 0, 0)
    [stuck] = kinds(seen, "job.stuck")
    [queued] = kinds(seen, "job.waiting")
    assert (stuck.subject, stuck.occurrence) == ("h_ok", running.job_id) and stuck.detail["timeout_s"] == 30
    assert (queued.subject, queued.occurrence) == ("h_ok", waiting.job_id) and queued.detail["minutes"] == 40
    assert stuck.scope.job_type == "h_ok" and queued.link == "/console/admin/jobs?tab=queued"


def test_a_fresh_queue_and_a_live_worker_are_healthy(runtime, seen):
    job, _ = dispatch("h_ok", {"key": "fresh"})
    assert ledger.start_run(job.job_id, stale_after_s=30) is not None
    out = health.evaluate(utcnow())
    assert (out["stuck"], out["waiting"]) == (0, 0) and seen == []


def test_a_dead_letter_queue_that_is_not_empty_is_signalled_once_per_episode(client, runtime, seen):
    from academy_cli.schedules import scheduled_event

    sqs = boto3.client("sqs")
    dlq = runtime.url(QUEUES["media"].dlq_name)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"job_id": "lost"}))
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"job_id": "lost-2"}))
    t0 = utcnow()
    for n in range(3):  # the watchdog (its own function and role) every 5 minutes
        client.lambda_.invoke("monitor_watchdog", scheduled_event("monitor_watchdog", "us-east-1", t0 + timedelta(minutes=5 * n)))
    [sig] = kinds(seen, "dlq.not_empty")
    assert sig.subject == QUEUES["media"].dlq_name and sig.detail["messages"] == 2 and sig.scope.source == "queues"
    sqs.purge_queue(QueueUrl=dlq)  # emptied (redriven or removed)
    assert health.evaluate(utcnow())["dlq_not_empty"] == 0
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"job_id": "again"}))
    later = utcnow() + timedelta(minutes=1)
    assert health.evaluate(later)["dlq_not_empty"] == 1  # a new episode: its own occurrence
    signalled = kinds(seen, "dlq.not_empty")
    assert len(signalled) == 2 and signalled[1].occurrence == iso(later) and signalled[0].occurrence != signalled[1].occurrence


def test_a_job_waiting_out_a_retry_back_off_is_not_waiting_yet(runtime, seen):
    dispatch("h_ok", {"key": "backing-off"})
    assert health.evaluate(utcnow() + timedelta(minutes=20))["waiting"] == 0  # < 30 min: a back-off is ≤ 15 min
    assert kinds(seen, "job.waiting") == []
