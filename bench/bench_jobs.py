"""Jobs page: the first page of failed jobs among 10,000 ledger entries (time, and items DynamoDB reads).

Runs in-process against moto (``mock_aws``). The ledger is filled with batch writes (a realistic mix
of states and types); every DynamoDB Query/Scan the app makes is observed through botocore's event
hooks, so "items read" is DynamoDB's own ``ScannedCount``, summed over the calls one page needs.
Baseline: the naive page, a filtered table scan sorted in memory (what an index saves us).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench._common import deployed_aws, set_env

ENTRIES = 10_000
PAGE = 50
RUNS = 15
MIX = [("succeeded", 0.55), ("failed", 0.30), ("queued", 0.08), ("running", 0.02), ("cancelled", 0.05)]
TYPES = ["bench.export", "bench.delete", "bench.optimise", "bench.backfill"]  # registered in run()


class Reads:
    """Sums ScannedCount and counts calls of every Query/Scan on one botocore client."""

    def __init__(self, botocore_client: Any) -> None:
        self.items = 0
        self.calls = 0
        for op in ("Query", "Scan"):
            botocore_client.meta.events.register(f"after-call.dynamodb.{op}", self._after)

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        self.items += int(parsed.get("ScannedCount", 0))
        self.calls += 1

    def measure(self, fn: Any) -> tuple[Any, int, int]:
        self.items = self.calls = 0
        out = fn()
        return out, self.items, self.calls


def _fill() -> dict[str, int]:
    from datetime import timedelta

    from chalicelib.core.db import new_id, utcnow
    from chalicelib.jobs.ledger import Job, JobError

    counts: dict[str, int] = {}
    bounds = []
    acc = 0.0
    for state, share in MIX:
        acc += share
        bounds.append((acc, state))
    start = utcnow() - timedelta(days=30)
    with Job.batch_write() as batch:
        for i in range(ENTRIES):
            frac = ((i * 7919) % ENTRIES) / ENTRIES  # deterministic, interleaved states
            state = next(s for b, s in bounds if frac < b)
            counts[state] = counts.get(state, 0) + 1
            at = start + timedelta(seconds=i * 200)
            job = Job(
                job_id=new_id(),
                type=TYPES[i % len(TYPES)],
                state=state,
                queue="jobs",
                payload={"n": i, "note": "x" * 200},
                attempts=3 if state == "failed" else 1,
                timeout_s=300,
                created_at=at,
                updated_at=at,
                heartbeat_at=at,
            )
            if state == "failed":
                job.last_error = JobError(type="TimeoutError", message=f"upstream timed out on item {i}", at=at, attempt=3)
                job.errors = [job.last_error]
            batch.save(job)
    return counts


def _seed_counters(job_counts: Any) -> None:
    """The rows were batch-written without transitions: the counters are set by a recount, as after a restore."""
    job_counts.recount(apply=True)


def _median_ms(fn: Any, runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def run() -> list[dict]:
    set_env(log_level="WARNING", app=False)

    with deployed_aws():
        from chalicelib.jobs import registry
        from chalicelib.jobs.ledger import Job
        from chalicelib.operations import service

        for name in TYPES:
            registry.register(name, "jobs", "chalicelib.jobs.builtin:noop", timeout_s=300)

        t = time.perf_counter()
        counts = _fill()
        fill_s = time.perf_counter() - t
        from chalicelib.jobs import counts as job_counts

        _seed_counters(job_counts)
        reads = Reads(Job._get_connection().connection.client)

        def first_page() -> list[Any]:
            return service.list_jobs(PAGE, None, "failed", None)[0]

        def naive_page() -> list[Any]:
            return sorted(Job.scan(Job.state == "failed"), key=lambda j: j.job_id, reverse=True)[:PAGE]

        page, page_items, page_calls = reads.measure(first_page)
        naive, naive_items, _ = reads.measure(naive_page)
        assert [j.job_id for j in page] == [j.job_id for j in naive], "index page and scan page differ"
        _, merged_items, _ = reads.measure(lambda: service.list_jobs(PAGE, None, None, None))
        typed, typed_items, _ = reads.measure(lambda: service.list_jobs(PAGE, None, "failed", "bench.optimise"))
        summary, summary_items, _ = reads.measure(service.summary)
        capped = set(summary["capped_states"])
        expected = {s: counts.get(s, 0) for s in summary["states"] if s not in capped}
        assert {s: n for s, n in summary["states"].items() if s not in capped} == expected, "summary counts disagree"
        assert all(counts.get(s, 0) >= summary["states"][s] for s in capped), "a capped count exceeds the truth"

        page_ms = _median_ms(first_page)
        naive_ms = _median_ms(naive_page, runs=3)  # slow by nature: a few runs suffice
        summary_ms = _median_ms(service.summary, runs=3)

    return [
        {
            "name": f"jobs: first page of failed ({PAGE}) among {ENTRIES:,} entries",
            "value": page_ms,
            "unit": "ms",
            "baseline": naive_ms,
            "ratio": page_ms / naive_ms,
            "goal": 0.2,
        },
        {
            "name": f"jobs: items read for that page ({page_calls} query)",
            "value": page_items,
            "unit": "items",
            "baseline": naive_items,
            "ratio": page_items / naive_items,
            "goal": round(1.1 * PAGE / ENTRIES, 4),
        },
        {
            "name": "jobs: items read, default view (failed+running+queued)",
            "value": merged_items,
            "unit": "items",
            "baseline": naive_items,
            "ratio": merged_items / naive_items,
            "goal": round(3.1 * PAGE / ENTRIES, 4),
        },
        {
            "name": f"jobs: items read, failed+type page ({len(typed)} matched)",
            "value": typed_items,
            "unit": "items",
            "baseline": naive_items,
            "ratio": typed_items / naive_items,
            "goal": round(1.1 * PAGE / ENTRIES, 4),
        },
        {"name": f"jobs: summary counts (reads {summary_items:,} index items)", "value": summary_ms, "unit": "ms"},
        {"name": f"jobs: writing {ENTRIES:,} ledger entries (batch writes)", "value": fill_s, "unit": "s"},
    ]
