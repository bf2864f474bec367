"""Job counters (chalicelib/jobs/counts.py): exact under concurrent transitions, duplicate deliveries and
refused conditions; the summary reads them in O(1); the recount finds and repairs drift."""

from __future__ import annotations

import threading

import pytest

from chalicelib.jobs import counts, health, ledger, registry, states
from chalicelib.jobs.dispatch import dispatch
from chalicelib.jobs.ledger import Job

TYPE = "t_count"


@pytest.fixture
def jobs(app):
    from chalicelib.core import aws

    aws.reset()
    registry.register(TYPE, "jobs", "tests.jobfns:flaky", timeout_s=30)
    yield
    registry.JOB_TYPES.pop(TYPE, None)


def actual() -> dict[tuple[str, str], int]:
    """The truth, read row by row (consistent), not from the counters."""
    out: dict[tuple[str, str], int] = {}
    for job in Job.scan(consistent_read=True):
        if job.job_id.startswith((counts.PREFIX, health.PREFIX)):  # counter and job-health rows are not jobs
            continue
        out[(job.state, job.type)] = out.get((job.state, job.type), 0) + 1
    return out


def counted() -> dict[tuple[str, str], int]:
    return {k: v for k, v in counts.read().items() if v}


def test_dispatch_counts_a_queued_job_and_transitions_move_it(jobs):
    job, _ = dispatch(TYPE, {})
    assert counted() == {(states.QUEUED, TYPE): 1}
    claimed = ledger.start_run(job.job_id, stale_after_s=30)
    assert claimed is not None
    assert counted() == {(states.RUNNING, TYPE): 1}
    assert ledger.finish(job.job_id, claimed[1], {"ok": True})
    assert counted() == {(states.SUCCEEDED, TYPE): 1} == actual()


def test_counters_exact_under_8_concurrent_workers_and_admins(jobs):
    """8 threads race for the same 30 jobs: claim, finish or fail, cancel, retry. Every transition one
    conditional transaction: the counters equal the rows at the end, whoever won."""
    ids = [dispatch(TYPE, {})[0].job_id for _ in range(30)]
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
                if n % 2:
                    ledger.cancel(job_id)
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
    truth = actual()
    assert sum(truth.values()) == 30
    assert counted() == truth


def test_duplicate_delivery_and_a_stale_run_move_no_counter(jobs):
    job, _ = dispatch(TYPE, {})
    first = ledger.start_run(job.job_id, stale_after_s=30)
    assert first is not None
    assert ledger.start_run(job.job_id, stale_after_s=30) is None  # the duplicate delivery: heartbeat is fresh
    assert counted() == {(states.RUNNING, TYPE): 1}
    assert ledger.finish(job.job_id, first[1], None)
    assert not ledger.finish(job.job_id, first[1], None)  # the same outcome recorded twice
    assert not ledger.record_failure(job.job_id, "some-other-run", "Boom", "x", final=True)  # a stale run
    assert ledger.start_run(job.job_id, stale_after_s=30) is None  # a redelivery after the end
    assert counted() == {(states.SUCCEEDED, TYPE): 1} == actual()


def test_a_refused_condition_changes_no_counter(jobs):
    job, _ = dispatch(TYPE, {})
    claimed = ledger.start_run(job.job_id, stale_after_s=30)
    assert claimed is not None and ledger.finish(job.job_id, claimed[1], None)
    before = counted()
    assert ledger.cancel(job.job_id) is None  # succeeded: not cancellable
    assert ledger.requeue(job.job_id, states.RETRYABLE) is None  # succeeded: not retryable
    assert not ledger.heartbeat(job.job_id, claimed[1])
    assert counted() == before == actual()


def test_an_orphan_message_is_counted_once(jobs):
    ledger.put_orphan("not json", "unreadable")
    ledger.put_orphan("not json", "unreadable")  # redelivered
    assert counted() == {(states.FAILED, "unknown"): 1} == actual()


def test_recount_reports_drift_dry_run_then_repairs_it_once(jobs):
    for _ in range(3):
        dispatch(TYPE, {})
    counts.add([(states.QUEUED, TYPE, 5), (states.FAILED, TYPE, -2)])  # drift: a lost write, a bug, a restore
    report = counts.recount()
    assert report["dry_run"] and not report["repaired"]
    assert {(d["state"], d["actual"], d["counted"]) for d in report["drift"]} == {("queued", 3, 8), ("failed", 0, -2)}
    assert counted()[(states.QUEUED, TYPE)] == 8  # a dry run changes nothing
    applied = counts.recount(apply=True)
    assert applied["repaired"] and not applied["changed"]
    assert counted() == actual() == {(states.QUEUED, TYPE): 3}
    again = counts.recount(apply=True)
    assert again["drift"] == [] and counted() == actual()  # idempotent


def test_a_repair_raced_by_a_transition_writes_nothing(jobs):
    job, _ = dispatch(TYPE, {})
    counts.add([(states.QUEUED, TYPE, 4)])
    rows = counts.read_rows()
    delta = counts.drift({(states.QUEUED, TYPE): 1}, counts.totals(rows))
    assert ledger.start_run(job.job_id, stale_after_s=30) is not None  # moves queued between read and repair
    assert not counts.repair(rows, delta)
    assert counts.recount(apply=True)["repaired"]
    assert counted() == actual()


def test_the_summary_reads_a_constant_number_of_items(jobs, monkeypatch):
    from chalicelib.operations import service
    from chalicelib.operations.domain import STUCK_WINDOW

    for _ in range(STUCK_WINDOW * 3):
        dispatch(TYPE, {})
    reads = {"items": 0}
    real_query = Job.by_state.query

    def counting_query(*args, **kwargs):
        for item in real_query(*args, **kwargs):
            reads["items"] += 1
            yield item

    monkeypatch.setattr(Job.by_state, "query", counting_query)
    out = service.summary()
    assert out["states"][states.QUEUED] == STUCK_WINDOW * 3
    assert reads["items"] <= 2 * STUCK_WINDOW and counts.SHARDS + 2 * STUCK_WINDOW <= 20
