"""The job runtime against real (moto) SQS semantics: receive counts, redrive, partial batches."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import boto3
import pytest

from chalicelib.core.settings import get_settings
from chalicelib.jobs import ledger, registry, states, worker
from chalicelib.jobs.dispatch import dispatch
from chalicelib.jobs.queues import QUEUES
from tests import jobfns


@pytest.fixture
def runtime(app, monkeypatch):
    from chalicelib.core import aws

    aws.reset()
    jobfns.reset()
    registry.register("t_flaky", "jobs", "tests.jobfns:flaky", timeout_s=30)
    registry.register("t_poison", "jobs", "tests.jobfns:poison", timeout_s=30)
    registry.register("t_bad", "jobs", "tests.jobfns:bad_input", timeout_s=30)
    monkeypatch.setattr(worker, "POLICY", worker.Policy(retry_delay_s=lambda n: 0))  # no waiting between attempts in tests
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    sqs = boto3.client("sqs")

    class Runtime:
        def url(self, name: str) -> str:
            return sqs.get_queue_url(QueueName=name)["QueueUrl"]

        def arn(self, name: str) -> str:
            return sqs.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

        def pump(self, queue: str = "jobs", handler: str = "run_jobs", rounds: int = 20) -> list[tuple[int, int]]:
            from academy_cli.pump import drain_once

            out = []
            name = get_settings().queue_name(queue)
            for _ in range(rounds):
                got = drain_once(sqs, self.url(name), self.arn(name), app.handler_map[handler], batch_size=10)
                if got == (0, 0):
                    break
                out.append(got)
            return out

        def depth(self, name: str) -> int:
            attrs = sqs.get_queue_attributes(QueueUrl=self.url(name), AttributeNames=["All"])["Attributes"]
            return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    yield Runtime()
    for name in ("t_flaky", "t_poison", "t_bad"):
        registry.JOB_TYPES.pop(name, None)


def test_transient_twice_then_succeeds_with_three_attempts(runtime):
    jobfns.fail_times["a"] = 2
    job, created = dispatch("t_flaky", {"key": "a"})
    assert created and job.state == states.QUEUED
    runtime.pump()
    job = ledger.get(job.job_id)
    assert job.state == states.SUCCEEDED
    assert job.attempts == 3
    assert [e.type for e in job.errors] == ["ConnectionError", "ConnectionError"]
    assert job.result == {"key": "a", "calls": 3}
    assert runtime.depth(QUEUES["jobs"].name) == 0


def test_poison_job_ends_in_dlq_and_ledger_failed(runtime):
    job, _ = dispatch("t_poison", {"key": "p"})
    runtime.pump()
    spec = QUEUES["jobs"]
    assert jobfns.calls["p"] == spec.max_receive_count
    job = ledger.get(job.job_id)
    assert job.state == states.FAILED
    assert "poison" in job.last_error.message
    assert runtime.depth(spec.dlq_name) == 1  # SQS redrove it
    runtime.pump("jobs-dlq", "jobs_dead_letters")
    assert runtime.depth(spec.dlq_name) == 0
    assert ledger.get(job.job_id).state == states.FAILED


def test_dead_letter_consumer_fails_a_job_the_worker_never_finished(runtime):
    """A worker that crashed (no ledger update) leaves the job queued; the DLQ consumer makes it failed."""
    job, _ = dispatch("t_flaky", {"key": "crash"})
    sqs = boto3.client("sqs")
    spec = QUEUES["jobs"]
    msg = sqs.receive_message(QueueUrl=runtime.url(spec.name))["Messages"][0]
    sqs.send_message(QueueUrl=runtime.url(spec.dlq_name), MessageBody=msg["Body"])
    sqs.delete_message(QueueUrl=runtime.url(spec.name), ReceiptHandle=msg["ReceiptHandle"])
    runtime.pump("jobs-dlq", "jobs_dead_letters")
    job = ledger.get(job.job_id)
    assert job.state == states.FAILED and job.last_error.type == "DeadLetter"


def test_permanent_error_fails_at_once_without_retry(runtime):
    job, _ = dispatch("t_bad", {"key": "b"})
    runtime.pump()
    assert jobfns.calls["b"] == 1
    job = ledger.get(job.job_id)
    assert job.state == states.FAILED and job.last_error.type == "PermanentJobError"
    assert runtime.depth(QUEUES["jobs"].name) == 0 and runtime.depth(QUEUES["jobs"].dlq_name) == 0


def test_batch_of_ten_with_three_failures_retries_only_those(runtime):
    jobs = []
    for i in range(10):
        key = f"k{i}"
        if i in (1, 4, 7):
            jobfns.fail_times[key] = 1
        jobs.append(dispatch("t_flaky", {"key": key})[0])
    rounds = runtime.pump()
    assert rounds[0] == (10, 3)  # one batch of ten, three reported back
    assert sum(r[0] for r in rounds[1:]) == 3  # only the three came back
    for i, job in enumerate(jobs):
        assert jobfns.calls[f"k{i}"] == (2 if i in (1, 4, 7) else 1)
        assert ledger.get(job.job_id).state == states.SUCCEEDED


def test_duplicate_delivery_of_a_succeeded_job_does_nothing(runtime):
    job, _ = dispatch("t_flaky", {"key": "d"})
    runtime.pump()
    before = ledger.get(job.job_id)
    boto3.client("sqs").send_message(QueueUrl=runtime.url(QUEUES["jobs"].name), MessageBody=json.dumps({"job_id": job.job_id}))
    runtime.pump()
    after = ledger.get(job.job_id)
    assert jobfns.calls["d"] == 1
    assert (after.state, after.attempts, after.updated_at) == (before.state, before.attempts, before.updated_at)


def test_duplicate_delivery_while_running_is_skipped_and_stale_runs_are_taken_over(runtime):
    job, _ = dispatch("t_flaky", {"key": "r"})
    claimed = ledger.start_run(job.job_id, stale_after_s=30)
    assert claimed is not None
    assert ledger.start_run(job.job_id, stale_after_s=30) is None  # fresh heartbeat: someone is on it
    runtime.pump()
    assert jobfns.calls["r"] == 0 and ledger.get(job.job_id).state == states.RUNNING
    # The first worker died: its heartbeat goes stale, a redelivery takes over.
    stale = ledger.get(job.job_id)
    stale.update(actions=[ledger.Job.heartbeat_at.set(stale.heartbeat_at - timedelta(seconds=120))])
    boto3.client("sqs").send_message(QueueUrl=runtime.url(QUEUES["jobs"].name), MessageBody=json.dumps({"job_id": job.job_id}))
    runtime.pump()
    done = ledger.get(job.job_id)
    assert done.state == states.SUCCEEDED and done.attempts == 2
    # The dead worker's late finish cannot overwrite the newer run.
    assert ledger.finish(job.job_id, claimed[1], {"late": True}) is False


def test_cancelled_job_is_skipped_by_the_worker(runtime):
    job, _ = dispatch("t_flaky", {"key": "c"})
    assert ledger.cancel(job.job_id) is not None
    runtime.pump()
    assert jobfns.calls["c"] == 0
    assert ledger.get(job.job_id).state == states.CANCELLED
    assert runtime.depth(QUEUES["jobs"].name) == 0


@pytest.mark.parametrize("queue", ["jobs", "media"])
def test_unreadable_message_becomes_a_visible_failed_job(runtime, queue):
    boto3.client("sqs").send_message(QueueUrl=runtime.url(QUEUES[queue].name), MessageBody="{not json")
    runtime.pump(queue, handler=QUEUES[queue].handler)
    failed, _ = ledger.list_jobs(10, None, state=states.FAILED)
    assert [j.type for j in failed] == ["unknown"]
    assert failed[0].payload == {"raw_body": "{not json"}


def _record(body: str, message_id: str, receives: int = 1):
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    return SQSRecord(
        {
            "messageId": message_id,
            "receiptHandle": "not-a-real-handle",
            "body": body,
            "attributes": {"ApproximateReceiveCount": str(receives)},
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:academy-test-jobs",
        }
    )


def _orphans() -> list:
    failed, _ = ledger.list_jobs(100, None, state=states.FAILED)
    return [j for j in failed if j.type == "unknown"]


def test_each_redelivery_of_an_unreadable_message_keeps_one_orphan(runtime):
    """Redelivered (same message id), redriven (new id), then dead-lettered: still one failed job."""
    body = '{"job_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "type": "gone"}'
    worker.run_record(_record(body, "m-1"), "jobs")
    worker.run_record(_record(body, "m-1", receives=2), "jobs")
    worker.run_record(_record(body, "m-2"), "jobs")
    worker.record_dead_letter(_record(body, "m-3", receives=5))
    orphans = _orphans()
    assert len(orphans) == 1
    assert orphans[0].payload == {"raw_body": body} and orphans[0].dedupe_key == ledger.orphan_key(body)
    assert ledger.put_orphan(body, "again").job_id == orphans[0].job_id

    worker.run_record(_record("{not json", "m-4"), "jobs")  # another body: its own orphan
    worker.run_record(_record("", "m-5"), "jobs")
    worker.run_record(_record("", "m-6"), "jobs")
    assert sorted(j.payload["raw_body"] for j in _orphans()) == sorted(["", "{not json", body])


def test_concurrent_deliveries_of_one_unreadable_message_record_one_orphan(runtime):
    barrier = threading.Barrier(8)
    ids = []

    def go(n):
        barrier.wait()
        ids.append(ledger.put_orphan("\udcff not utf-8 \u00e9", f"delivery {n}").job_id)

    threads = [threading.Thread(target=go, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert [j.job_id for j in _orphans()] == ids[:1]


def test_double_dispatch_with_one_dedupe_key_from_threads_yields_one_job(runtime):
    results = []
    barrier = threading.Barrier(8)

    def go():
        barrier.wait()
        results.append(dispatch("t_flaky", {"key": "same"}, dedupe_key="video:1:optimise"))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job.job_id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert runtime.depth(QUEUES["jobs"].name) == 1
    runtime.pump()
    assert jobfns.calls["same"] == 1


def test_unknown_job_type_is_refused_at_dispatch(runtime):
    from chalicelib.jobs.dispatch import UnknownJobType

    with pytest.raises(UnknownJobType):
        dispatch("no_such_type", {})


def test_send_failure_marks_the_job_failed_visibly(runtime, monkeypatch):
    from chalicelib.core import aws

    def broken(*a, **kw):
        raise ConnectionError("sqs unreachable")

    monkeypatch.setattr(aws, "queue_url", broken)
    with pytest.raises(ConnectionError):
        dispatch("t_flaky", {"key": "s"})
    failed, _ = ledger.list_jobs(10, None, state=states.FAILED)
    assert len(failed) == 1 and "could not enqueue" in failed[0].last_error.message


def test_a_stale_dead_letter_never_fails_a_job_that_was_retried_since(runtime):
    """An admin retried the job; a dead letter of the earlier dispatch arrives late and must not fail it."""
    job, _ = dispatch("t_flaky", {"key": "late"})
    sqs = boto3.client("sqs")
    spec = QUEUES["jobs"]
    old = sqs.receive_message(QueueUrl=runtime.url(spec.name))["Messages"][0]
    sqs.delete_message(QueueUrl=runtime.url(spec.name), ReceiptHandle=old["ReceiptHandle"])
    assert ledger.record_failure(job.job_id, None, "Boom", "first dispatch failed", final=True)
    retried = ledger.requeue(job.job_id, states.RETRYABLE)
    assert retried is not None and retried.dispatch_id != job.dispatch_id
    sqs.send_message(QueueUrl=runtime.url(spec.dlq_name), MessageBody=old["Body"])  # the late dead letter
    runtime.pump("jobs-dlq", "jobs_dead_letters")
    assert ledger.get(job.job_id).state == states.QUEUED
