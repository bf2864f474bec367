"""The scheduler at 1,000, 10,000 (and, with ``BENCH_SCHEDULER_100K=1``, 100,000) daily tasks, one shard
against its floor, and a model of 1,000,000 tasks on AWS.

100,000 is behind a flag because moto copies every table on each ``TransactWriteItems`` (its rollback),
and each shard job makes three (dispatch, start, finish): at 100,000 tasks that alone is ~20 minutes here.

- time per task: the hourly run end to end in-process against moto, each size in a fresh emulator:
  the fan-out (a ``Limit=1`` query per shard, one deduplicated job per shard with work) and every shard
  job run through the job runtime (SQS receive, ``process_batch``, ledger), as the jobs Lambda would.
  Goal: the per-task cost at the largest size within 1.2x of 1,000's.
- one shard vs its floor: ``run_shard`` (lease, the shard's index pages, consistent batch reads,
  ``BatchWriteItem`` of the missing instances, release) over one shard of ``SHARD_TASKS`` tasks vs the
  floor: a raw Query of the same shard's index (same projection) plus raw ``BatchWriteItem`` puts of
  the same number of instances. Goal 1.10. Its idempotent second run's write calls are counted.
- the model: the calls a shard job makes per task (counted by operation during the largest run) times
  a documented AWS latency per call (``AWS_MS`` below; DynamoDB in-region single-digit milliseconds),
  the shard count and the jobs queue's concurrency (``PARALLEL``) → 1,000,000 tasks: shard jobs, the
  longest shard's time, the whole run, DynamoDB write/read units and Lambda GB-seconds per day.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench._common import deployed_aws, set_env

SIZES = (1_000, 10_000)
LARGE = 100_000
SHARD_TASKS = 4_000  # one shard's share of 1,000,000 tasks (1e6 / 256 ≈ 3,906)
MODEL_TASKS = 1_000_000
ZONES = ("UTC", "Europe/London", "Asia/Tokyo", "America/New_York")
# Assumed latency of one call on AWS, in-region, warm clients (ms). DynamoDB documents single-digit ms per
# request; a 25-item BatchWriteItem and a 100-key BatchGetItem cost a few times a single-item call.
AWS_MS = {
    "BatchWriteItem": 5.0,
    "BatchGetItem": 8.0,
    "Query": 10.0,  # a Limit=1 probe (~5 ms) or one page of a shard's index (~4,000 small items, ~400 KB)
    "GetItem": 3.0,
    "PutItem": 4.0,
    "UpdateItem": 4.0,
    "DeleteItem": 4.0,
    "TransactWriteItems": 10.0,
    "SendMessage": 5.0,
    "ReceiveMessage": 5.0,
    "DeleteMessage": 5.0,
    "ChangeMessageVisibility": 5.0,
}
PARALLEL = 10  # concurrent jobs-queue Lambda invocations assumed (the event source's maximum concurrency)
JOB_MEMORY_GB = 0.5  # the jobs queue's Lambda (QUEUES["jobs"].memory_mb)
FANOUT_MEMORY_GB = 1.0  # the hourly function (.chalice/config.json)


class Calls:
    """Counts botocore calls by operation on every client created after it is installed."""

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()

    def _count(self, model: Any, **_: Any) -> None:
        self.ops[model.name] += 1

    def watch(self, client: Any) -> Any:
        client.meta.events.register("before-call", self._count, unique_id="bench-scheduler-calls")
        return client

    def install(self) -> None:
        """Count on clients created from now on."""
        import botocore.session

        orig = botocore.session.Session.create_client
        calls = self

        def create_client(self: Any, *a: Any, **kw: Any) -> Any:
            return calls.watch(orig(self, *a, **kw))

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

    def watch_models(self) -> None:
        """... and on the pynamodb clients an earlier benchmark created (inside the emulator)."""
        from chalicelib import tables

        for model in tables.ALL_MODELS:
            self.watch(model._get_connection().connection.client)


CALLS = Calls()


def _seed(n: int, shard_of_all: int | None = None) -> list[str]:
    """``n`` active daily tasks (raw batch writes), spread over the shards, or all in one shard."""
    import boto3

    from chalicelib.core.db import utcnow
    from chalicelib.tasks import domain
    from chalicelib.tasks.store import Task

    at = utcnow().isoformat()
    ids: list[str] = []
    i = 0
    while len(ids) < n:
        tid = f"bench{i:09d}"
        i += 1
        if shard_of_all is None or domain.shard_of(tid) == shard_of_all:
            ids.append(tid)
    reqs = []
    for k, tid in enumerate(ids):
        shard = domain.shard_of(tid)
        item = {
            "id": {"S": tid},
            "kind": {"S": "task"},
            "title": {"S": f"T{k}"},
            "recurrence": {"S": "daily"},
            "timezone": {"S": ZONES[k % 4]},
            "starts_on": {"S": "2025-01-01"},
            "status": {"S": "active"},
            "shard": {"N": str(shard)},
            "sched_shard": {"S": domain.shard_key(shard)},
            "created_at": {"S": at},
            "updated_at": {"S": at},
        }
        reqs.append({"PutRequest": {"Item": item}})
    _raw_batch(boto3.client("dynamodb"), Task.Meta.table_name, reqs)
    return ids


def _raw_batch(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    for i in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[i : i + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _drain() -> int:
    from academy_cli.pump import drain_once
    from chalicelib.core import aws
    from chalicelib.jobs.queues import QUEUES
    from chalicelib.jobs.worker import process_batch

    sqs = aws.client("sqs")
    url = aws.queue_url(QUEUES["jobs"].name)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    total = 0
    while True:
        received, failed = drain_once(sqs, url, arn, lambda ev, ctx: process_batch(ev, "jobs", ctx), timeout_s=300)
        if failed:
            raise AssertionError(f"{failed} shard jobs failed")
        if not received:
            return total
        total += received


def _hourly(n: int) -> dict[str, Any]:
    """Seed ``n`` tasks in a fresh emulator, run the hourly fan-out and drain its jobs; time and calls."""
    from chalicelib.tasks import service, store
    from chalicelib.tasks.store import TaskInstance

    with deployed_aws():
        CALLS.watch_models()
        _seed(n)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        with_work = sum(1 for shard in service.shards() if store.shard_has_work(shard))  # the probes alone
        probes_s = time.perf_counter() - t0
        CALLS.ops.clear()
        t0 = time.perf_counter()
        out = service.fan_out(now)
        fan_out_s = time.perf_counter() - t0
        fan_out_calls = dict(CALLS.ops)
        CALLS.ops.clear()
        jobs = _drain()
        took = time.perf_counter() - t0
        job_calls = dict(CALLS.ops)
        made = sum(1 for _ in TaskInstance.scan(attributes_to_get=["task_id"]))
        if made != n or with_work != out["shards"]:
            raise AssertionError(f"{made} instances for {n} tasks; {with_work} shards with work, {out['shards']} enqueued")
    return {
        "n": n,
        "s": took,
        "fan_out_s": fan_out_s,
        "probes_s": probes_s,
        "shards": out["shards"],
        "jobs": jobs,
        "fan_out_calls": fan_out_calls,
        "job_calls": job_calls,
    }


ROUNDS = 3  # one shard vs its floor: alternating rounds (a new day each), the best of each side


def _floor(ddb: Any, day: str) -> tuple[float, int]:
    """A raw Query of shard 0's index (same projection) and raw batch puts of as many instances for ``day``."""
    from chalicelib.core.db import utcnow
    from chalicelib.tasks import domain
    from chalicelib.tasks.store import Task, TaskInstance

    at = utcnow().isoformat()
    kw: dict[str, Any] = {
        "TableName": Task.Meta.table_name,
        "IndexName": "by_sched_shard",
        "KeyConditionExpression": "sched_shard = :s",
        "ExpressionAttributeValues": {":s": {"S": domain.shard_key(0)}},
        "ProjectionExpression": "id, #tz, starts_on, ends_on",
        "ExpressionAttributeNames": {"#tz": "timezone"},
    }
    t0 = time.perf_counter()
    read: list[str] = []
    while True:
        page = ddb.query(**kw)
        read += [i["id"]["S"] for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    item = {"status": {"S": "open"}, "timezone": {"S": "UTC"}, "series": {"S": "daily"}, "source": {"S": "scheduler"}}
    item |= {"created_at": {"S": at}, "updated_at": {"S": at}, "date": {"S": day}}
    reqs = [{"PutRequest": {"Item": {**item, "task_id": {"S": f"raw-{tid}"}}}} for tid in read]
    _raw_batch(ddb, TaskInstance.Meta.table_name, reqs)
    return time.perf_counter() - t0, len(read)


def _one_shard() -> dict[str, Any]:
    """One shard of SHARD_TASKS tasks: run_shard vs its floor, ROUNDS alternating rounds, best of each."""
    import boto3

    from chalicelib.tasks import service

    with deployed_aws():
        CALLS.watch_models()
        _seed(SHARD_TASKS, shard_of_all=0)
        ddb = boto3.client("dynamodb")
        service.run_shard(1, datetime(2025, 5, 1, 0, 5, tzinfo=UTC))  # warm the clients (an empty shard)
        ddb.query(
            TableName=_tasks_table(), Limit=1, KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": {"S": "-"}}
        )
        ours: list[float] = []
        floors: list[float] = []
        calls: dict[str, int] = {}
        for r in range(ROUNDS):
            now = datetime(2025, 5, 1 + r, 0, 5, tzinfo=UTC)
            CALLS.ops.clear()
            t0 = time.perf_counter()
            first = service.run_shard(0, now)
            ours.append(time.perf_counter() - t0)
            calls = dict(CALLS.ops)
            if first.stats["created"] != SHARD_TASKS:
                raise AssertionError(f"run_shard created {first.stats['created']} of {SHARD_TASKS}")
            took, read = _floor(ddb, now.date().isoformat())
            floors.append(took)
            if read != SHARD_TASKS:
                raise AssertionError(f"index read {read} of {SHARD_TASKS}")
        CALLS.ops.clear()
        t0 = time.perf_counter()
        second = service.run_shard(0, now)
        again = time.perf_counter() - t0
        writes = CALLS.ops["BatchWriteItem"] + CALLS.ops["PutItem"]
        if second.stats["existing"] != SHARD_TASKS:
            raise AssertionError("second run did not find every instance")
    return {"ours": min(ours), "floor": min(floors), "again": again, "again_instance_writes": writes, "calls": calls}


def _tasks_table() -> str:
    from chalicelib.tasks.store import Task

    return str(Task.Meta.table_name)


PER_TASK_OPS = ("BatchGetItem", "BatchWriteItem")  # the work per task; every other call is per job


def _model(
    one_shard_calls: dict[str, int], job_calls: dict[str, int], jobs: int, fan_out_calls: dict[str, int]
) -> dict[str, float]:
    """1,000,000 tasks on AWS: calls counted here times the assumed latency of each call on AWS.

    Per task: the batch reads and writes of the one-shard run (a shard of 1M's size). Per job: every
    other call of the hourly run (ledger, lease, index pages, tally, queue), divided by its jobs. The
    fan-out: the hourly run's own calls (every shard had work)."""
    from chalicelib.tasks.domain import SHARD_JOB_ITEMS, SHARDS

    mean = MODEL_TASKS / SHARDS
    longest_tasks = mean + 4 * math.sqrt(mean * (1 - 1 / SHARDS))  # a binomial's mean + 4 sigma
    per_task_ms = sum(AWS_MS[op] * one_shard_calls.get(op, 0) / SHARD_TASKS for op in PER_TASK_OPS)
    per_job_ms = sum(AWS_MS.get(op, 5.0) * n / jobs for op, n in job_calls.items() if op not in PER_TASK_OPS)
    parts = math.ceil(longest_tasks / SHARD_JOB_ITEMS)
    longest_s = (longest_tasks * per_task_ms + parts * per_job_ms) / 1000
    fan_out_s = sum(AWS_MS.get(op, 5.0) * n for op, n in fan_out_calls.items()) / 1000
    work_s = SHARDS * (mean * per_task_ms + parts * per_job_ms) / 1000
    whole_s = fan_out_s + max(longest_s, work_s / PARALLEL)
    # DynamoDB per day (on-demand units; items < 1 KB): each new instance is 1 WRU on the table + 1 on by_series;
    # the existence check reads every task's key every hour, consistently (1 RRU per key, BatchGetItem).
    job_writes = sum(n for op, n in job_calls.items() if op in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"))
    wru = MODEL_TASKS * 2 + 24 * SHARDS * parts * job_writes / jobs
    rru = 24 * MODEL_TASKS + 24 * SHARDS * (math.ceil(mean * 100 / 4096) / 2)  # + the index pages (eventual: half)
    gb_s = 24 * (JOB_MEMORY_GB * work_s + FANOUT_MEMORY_GB * fan_out_s)
    return {
        "shard_jobs": SHARDS * parts,
        "longest_tasks": longest_tasks,
        "longest_s": longest_s,
        "fan_out_s": fan_out_s,
        "whole_s": whole_s,
        "wru_per_day": wru,
        "rru_per_day": rru,
        "gb_s_per_day": gb_s,
        "per_task_ms": per_task_ms,
        "per_job_ms": per_job_ms,
    }


def run() -> list[dict]:
    set_env(log_level="ERROR")
    CALLS.install()
    sizes = (*SIZES, LARGE) if os.environ.get("BENCH_SCHEDULER_100K") == "1" else SIZES
    quiet = "POWERTOOLS_METRICS_DISABLED" not in os.environ
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # the jobs' metrics lines would drown the table
    try:
        runs = [_hourly(n) for n in sizes]
        one = _one_shard()
    finally:
        if quiet:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
    small, large = runs[0], runs[-1]
    per = {r["n"]: r["s"] / r["n"] for r in runs}
    rows: list[dict] = []
    for r in runs:
        rows.append(
            {
                "name": f"scheduler, {r['n']:,} tasks: hourly run per task ({r['shards']} shards, {r['jobs']} jobs)",
                "value": per[r["n"]] * 1000,
                "unit": "ms",
                "total_s": r["s"],
                "fan_out_s": r["fan_out_s"],
            }
        )
    rows.append(
        {
            "name": f"scheduler: per task at {large['n']:,} vs at {small['n']:,}",
            "value": per[large["n"]] * 1000,
            "unit": "ms",
            "baseline": per[small["n"]] * 1000,
            "ratio": per[large["n"]] / per[small["n"]],
            "goal": 1.2,
        }
    )
    rows.append(
        {
            "name": f"scheduler: the fan-out at {large['n']:,} ({large['shards']} shards with work)",
            "value": large["fan_out_s"],
            "unit": "s",
        }
    )
    for r in runs:
        rows.append(
            {"name": f"scheduler: has-work probes (257 Limit=1 queries), {r['n']:,}", "value": r["probes_s"], "unit": "s"}
        )
    rows.append(
        {
            "name": f"scheduler, one shard of {SHARD_TASKS:,} tasks vs floor (best of {ROUNDS})",
            "value": one["ours"],
            "unit": "s",
            "baseline": one["floor"],
            "ratio": one["ours"] / one["floor"],
            "goal": 1.1,
        }
    )
    rows.append({"name": "scheduler, one shard, idempotent second run: time", "value": one["again"], "unit": "s"})
    rows.append(
        {"name": "scheduler, one shard, second run: instance writes", "value": one["again_instance_writes"], "unit": "calls"}
    )
    m = _model(one["calls"], large["job_calls"], large["jobs"], large["fan_out_calls"])
    per_task = ", ".join(f"{op} {one['calls'].get(op, 0) * 1000 / SHARD_TASKS:.1f}" for op in PER_TASK_OPS)
    per_job = ", ".join(f"{op} {c / large['jobs']:.1f}" for op, c in sorted(large["job_calls"].items()) if op not in PER_TASK_OPS)
    fan = ", ".join(f"{op} {c}" for op, c in sorted(large["fan_out_calls"].items()))
    rows.append({"name": "model input: calls per 1,000 tasks (one shard)", "value": per_task, "unit": ""})
    rows.append({"name": f"model input: calls per shard job ({large['n']:,} run)", "value": per_job, "unit": ""})
    rows.append({"name": "model input: the fan-out's calls", "value": fan, "unit": ""})
    rows.append(
        {
            "name": "model 1M on AWS: per task / per job (assumed ms a call)",
            "value": f"{m['per_task_ms']:.3f} / {m['per_job_ms']:.0f}",
            "unit": "ms",
        }
    )
    rows.append({"name": "model 1M tasks on AWS: shard jobs per hour", "value": m["shard_jobs"], "unit": "jobs"})
    rows.append(
        {
            "name": f"model 1M: longest shard ({m['longest_tasks']:.0f} tasks) vs 5 min",
            "value": m["longest_s"],
            "unit": "s",
            "baseline": 300.0,
            "ratio": m["longest_s"] / 300.0,
            "goal": 1.0,
        }
    )
    rows.append(
        {
            "name": f"model 1M: whole hourly run ({PARALLEL} parallel) vs 1 h",
            "value": m["whole_s"],
            "unit": "s",
            "baseline": 3600.0,
            "ratio": m["whole_s"] / 3600.0,
            "goal": 0.25,
        }
    )
    rows.append({"name": "model 1M: the fan-out (probes + dispatches)", "value": m["fan_out_s"], "unit": "s"})
    rows.append({"name": "model 1M: DynamoDB write units per day", "value": m["wru_per_day"], "unit": "WRU"})
    rows.append({"name": "model 1M: DynamoDB read units per day", "value": m["rru_per_day"], "unit": "RRU"})
    rows.append({"name": "model 1M: Lambda GB-seconds per day", "value": m["gb_s_per_day"], "unit": "GB-s"})
    return rows
