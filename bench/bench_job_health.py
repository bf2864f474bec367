"""Job health (chalicelib/jobs/health.py): what the alert signals cost the job runtime and the watchdog.

- A success: DynamoDB calls of ``ledger.finish`` (goal: 2, the state read and the transaction; the outcome
  total rides in the transaction's counter update).
- A final failure: calls and time of ``ledger.record_failure`` with the first-failure check vs without it
  (``health.failed`` replaced by a no-op), same run.
- The watchdog's job-health evaluation: items read with 1,000 and 10,000 ledger entries (goal: the same).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench._common import deployed_aws, set_env
from bench.bench_job_counts import Reads, _fill

N = 30
SIZES = (1_000, 10_000)


class Calls:
    def __init__(self) -> None:
        self.ops: list[str] = []

    def __enter__(self) -> Calls:
        from botocore.client import BaseClient

        self._orig = BaseClient._make_api_call
        calls = self

        def counted(client: Any, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                calls.ops.append(operation)
            return calls._orig(client, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig  # type: ignore[method-assign]


def _failures(job_type: str) -> tuple[float, int]:
    """Median ms and calls per final failure of ``N`` jobs of ``job_type``."""
    from chalicelib.jobs import ledger
    from chalicelib.jobs.dispatch import dispatch

    samples, calls = [], 0
    for i in range(N):
        job, _ = dispatch(job_type, {"key": f"f{i}"})
        run = ledger.start_run(job.job_id, stale_after_s=30)
        assert run is not None
        with Calls() as c:
            t = time.perf_counter()
            ledger.record_failure(job.job_id, run[1], "Boom", "bench", final=True)
            samples.append((time.perf_counter() - t) * 1000)
        calls = max(calls, len(c.ops))
    return statistics.median(samples), calls


def run() -> list[dict]:
    set_env(log_level="CRITICAL")
    rows: list[dict] = []
    with deployed_aws():
        from datetime import timedelta

        from chalicelib.alerts import signals
        from chalicelib.core.db import utcnow
        from chalicelib.jobs import counts, health, ledger, registry
        from chalicelib.jobs.dispatch import dispatch
        from chalicelib.jobs.ledger import Job

        registry.register("bench_health", "jobs", "tests.jobfns:flaky", timeout_s=30)
        with signals.recording():
            job, _ = dispatch("bench_health", {"key": "ok"})
            run_ = ledger.start_run(job.job_id, stale_after_s=30)
            assert run_ is not None
            with Calls() as c:
                ledger.finish(job.job_id, run_[1], None)
            rows.append({"name": "job health: calls per success", "value": len(c.ops), "unit": "calls",
                         "baseline": 2, "ratio": len(c.ops) / 2, "goal": 1.0})  # fmt: skip
            with_ms, with_calls = _failures("bench_health")
            real = health.failed
            health.failed = lambda *a, **kw: False  # type: ignore[assignment]
            try:
                without_ms, without_calls = _failures("bench_health")
            finally:
                health.failed = real  # type: ignore[method-assign]
            rows.append({"name": "job health: final failure, first-failure check vs none", "value": with_ms, "unit": "ms",
                         "baseline": without_ms, "ratio": with_ms / without_ms})  # fmt: skip
            rows.append({"name": "job health: calls per final failure, at most (check vs none)", "value": with_calls,
                         "unit": "calls", "baseline": without_calls, "ratio": with_calls / without_calls})  # fmt: skip
            reads = Reads(Job._get_connection().connection.client, counts.CounterRow._get_connection().connection.client)
            tally: dict[tuple[str, str], int] = {}
            done, measured = 0, {}
            at = utcnow()
            health.evaluate(at)  # the health rows exist from here on (what every later run reads)
            for size in SIZES:
                _fill(done, size, tally)
                done = size
                reads.items = 0
                at += timedelta(seconds=health.LIMITS.window_s)  # a new window: the snapshot write too
                t = time.perf_counter()
                health.evaluate(at)
                ms = (time.perf_counter() - t) * 1000
                measured[size] = reads.items
                rows.append({"name": f"job health: watchdog evaluation, {size:,} entries", "value": ms, "unit": "ms"})
                rows.append({"name": f"job health: items read, {size:,} entries", "value": reads.items, "unit": "items"})
            small, large = (measured[s] for s in SIZES)
            rows.append({"name": "job health: items read 10k vs 1k", "value": large, "unit": "items", "baseline": small,
                         "ratio": large / small, "goal": 1.0})  # fmt: skip
        registry.JOB_TYPES.pop("bench_health", None)
    return rows
