"""The jobs summary against the ledger's size (issue 20): items read and time with 10,000 and 100,000
ledger entries. The counters (chalicelib/jobs/counts.py) make it O(1): the same items at both sizes, ≤ 20.

The ledger is seeded with batch writes of slim rows (keys, type, state, timestamps), and its counters
with one UpdateItem: a benchmark of the read, not of the writes. The seeding time is printed too.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench._common import deployed_aws, set_env

SIZES = (10_000, 100_000)
MIX = [("succeeded", 0.55), ("failed", 0.30), ("queued", 0.08), ("running", 0.02), ("cancelled", 0.05)]
TYPES = ["bench.export", "bench.delete", "bench.optimise", "bench.backfill"]
ITEMS_GOAL = 20


class Reads:
    """Items read by every Query/Scan (ScannedCount) and BatchGetItem/GetItem (items returned)."""

    def __init__(self, *clients: Any) -> None:
        self.items = 0
        for client in clients:  # unique ids: a client shared by two models counts once
            ev = client.meta.events
            for op in ("Query", "Scan"):
                ev.register(f"after-call.dynamodb.{op}", self._scanned, unique_id=f"bench-reads-{op}")
            ev.register("after-call.dynamodb.BatchGetItem", self._batch, unique_id="bench-reads-batch")
            ev.register("after-call.dynamodb.GetItem", self._get, unique_id="bench-reads-get")

    def _scanned(self, parsed: dict[str, Any], **_: Any) -> None:
        self.items += int(parsed.get("ScannedCount", 0))

    def _batch(self, parsed: dict[str, Any], **_: Any) -> None:
        self.items += sum(len(v) for v in parsed.get("Responses", {}).values())

    def _get(self, parsed: dict[str, Any], **_: Any) -> None:
        self.items += 1 if parsed.get("Item") else 0


def _fill(start: int, stop: int, tally: dict[tuple[str, str], int]) -> None:
    from datetime import timedelta

    from chalicelib.core.db import new_id, utcnow
    from chalicelib.jobs.ledger import Job

    at = utcnow() - timedelta(days=1)
    bounds, acc = [], 0.0
    for state, share in MIX:
        acc += share
        bounds.append((acc, state))
    with Job.batch_write() as batch:
        for i in range(start, stop):
            frac = ((i * 7919) % 1000) / 1000
            state = next(s for b, s in bounds if frac < b)
            job_type = TYPES[i % len(TYPES)]
            tally[(state, job_type)] = tally.get((state, job_type), 0) + 1
            job = Job(job_id=new_id(), type=job_type, state=state, queue="jobs", created_at=at, updated_at=at)
            job.heartbeat_at = at
            batch.save(job)


def run() -> list[dict]:
    set_env(log_level="WARNING", app=False)
    rows: list[dict] = []
    with deployed_aws():
        from chalicelib.jobs import counts
        from chalicelib.jobs.ledger import Job
        from chalicelib.operations import service

        reads = Reads(Job._get_connection().connection.client, counts.CounterRow._get_connection().connection.client)
        tally: dict[tuple[str, str], int] = {}
        done = 0
        measured: dict[int, tuple[int, float]] = {}
        for size in SIZES:
            t = time.perf_counter()
            before = dict(tally)
            _fill(done, size, tally)
            counts.add([(s, tp, n - before.get((s, tp), 0)) for (s, tp), n in tally.items() if n != before.get((s, tp), 0)])
            seed_s = time.perf_counter() - t
            done = size
            reads.items = 0
            summary = service.summary()
            items = reads.items
            assert sum(summary["states"].values()) == size, "summary disagrees with the ledger"
            samples = []
            for _ in range(5):
                t = time.perf_counter()
                service.summary()
                samples.append((time.perf_counter() - t) * 1000)
            measured[size] = (items, statistics.median(samples))
            parts = []
            for _ in range(5):
                t = time.perf_counter()
                counts.read()
                parts.append((time.perf_counter() - t) * 1000)
            counters_ms = statistics.median(parts)
            rows.append({"name": f"jobs summary: of which counters, {size:,} entries", "value": counters_ms, "unit": "ms"})
            rows.append({"name": f"jobs summary: items read, {size:,} entries", "value": items, "unit": "items",
                         "baseline": ITEMS_GOAL, "ratio": items / ITEMS_GOAL, "goal": 1.0})  # fmt: skip
            rows.append({"name": f"jobs summary: time, {size:,} entries", "value": statistics.median(samples), "unit": "ms"})
            rows.append({"name": f"jobs summary: seeding {size - (SIZES[0] if size != SIZES[0] else 0):,} entries (batch)",
                         "value": seed_s, "unit": "s"})  # fmt: skip
        small, large = (measured[s][0] for s in SIZES)
        rows.append({"name": "jobs summary: items read 100k vs 10k", "value": large, "unit": "items", "baseline": small,
                     "ratio": large / small, "goal": 1.0})  # fmt: skip
    return rows
