"""Academic: the cascade delete of 1,000 attendance records (the scheduler's rows: ``bench_scheduler``).

Both sides run in-process against moto (``mock_aws``), in the same run:
- cascade delete: ``DELETE`` semantics end to end (probe, dispatch, mark, the job's keys-only pages and
  25-item batch deletes, members, the schedule) vs its floor: what any implementation that does not
  know the keys must do at least, read them (one consistent keys-only Query) and batch-delete them.
  Medians of alternating warm rounds (clients already created); the first run in the process is shown
  too, and the floor against a raw ``BatchWriteItem`` of the same 1,000 keys known upfront.
  (The scheduler's rows are bench/bench_scheduler.py's.)
"""

from __future__ import annotations

import gc
import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench._common import deployed_aws, set_env

ATTENDANCE = 1_000
WRITE_OPS = ("PutItem", "BatchWriteItem", "TransactWriteItems", "UpdateItem", "DeleteItem")


class Writes:
    """Counts write calls per table on the given botocore clients."""

    def __init__(self, *clients: Any) -> None:
        self.by_table: dict[str, int] = {}
        for client in set(clients):
            for op in WRITE_OPS:
                client.meta.events.register(f"before-parameter-build.dynamodb.{op}", self._before)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        tables = {params.get("TableName"), *params.get("RequestItems", {})}
        tables |= {next(iter(i.values())).get("TableName") for i in params.get("TransactItems") or []}
        for t in tables - {None}:
            self.by_table[t] = self.by_table.get(t, 0) + 1

    def reset(self) -> None:
        self.by_table.clear()


def _raw_batch(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    for i in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[i : i + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _schedule_with_attendance(n: int) -> tuple[Any, list[str]]:
    from chalicelib.schedules import domain, service
    from chalicelib.students.store import create as create_student

    students = [create_student("bench-cust", f"S{i}").id for i in range(10)]
    start = datetime(2020, 1, 6, 16, tzinfo=UTC)
    times = domain.ScheduleTimes(start, start + timedelta(hours=1), "weekly", None, "UTC")
    s = service.create("Bench", students, times)
    first = date(2020, 1, 6)
    recs = [(first + timedelta(weeks=i // len(students)), students[i % len(students)], "present") for i in range(n)]
    service.bulk_put_attendance(s, recs)
    keys = [domain.attendance_key(d, sid) for d, sid, _ in recs]
    return s, keys


def _run_job(job_id: str) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.jobs.worker import run_record

    body = json.dumps({"job_id": job_id, "type": "delete_schedule", "v": 1})
    run_record(
        SQSRecord({"messageId": job_id, "receiptHandle": "bench", "body": body, "attributes": {"ApproximateReceiveCount": "1"}}),
        "jobs",
    )


def _job_path_delete(schedule_id: str) -> float:
    from chalicelib.schedules import service
    from chalicelib.schedules import store as schedules

    t0 = time.process_time()
    out = service.delete(schedule_id)
    _run_job(out["job_id"])
    took = time.process_time() - t0
    left = sum(1 for _ in schedules.Attendance.query(schedule_id, consistent_read=True))
    if left or schedules.find(schedule_id) is not None:
        raise AssertionError(f"cascade delete left {left} records")
    return took


def _raw_keys(client: Any, table: str, schedule_id: str) -> list[str]:
    keys: list[str] = []
    kw: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "schedule_id = :s",
        "ExpressionAttributeValues": {":s": {"S": schedule_id}},
        "ProjectionExpression": "#k",
        "ExpressionAttributeNames": {"#k": "key"},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**kw)
        keys += [i["key"]["S"] for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return keys
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# Alternating rounds (ours, floor, baseline), medians of CPU time: everything runs in this process
# (moto too), so CPU time is the work done, whatever else the shared machine runs meanwhile.
DELETE_ROUNDS = 5


def _floor_delete(ddb: Any, table: str) -> float:
    s, _ = _schedule_with_attendance(ATTENDANCE)
    gc.collect()
    t0 = time.process_time()
    found = _raw_keys(ddb, table, s.id)
    _raw_batch(ddb, table, [{"DeleteRequest": {"Key": {"schedule_id": {"S": s.id}, "key": {"S": k}}}} for k in found])
    took = time.process_time() - t0
    if len(found) != ATTENDANCE:
        raise AssertionError(f"floor read {len(found)} keys")
    return took


def _base_delete(ddb: Any, table: str) -> float:
    s, keys = _schedule_with_attendance(ATTENDANCE)
    reqs = [{"DeleteRequest": {"Key": {"schedule_id": {"S": s.id}, "key": {"S": k}}}} for k in keys]
    gc.collect()
    t0 = time.process_time()
    _raw_batch(ddb, table, reqs)
    return time.process_time() - t0


def _bench_delete() -> list[dict]:
    import statistics

    import boto3

    from chalicelib.schedules import store as schedules

    ddb = boto3.client("dynamodb")
    table = schedules.Attendance.Meta.table_name

    s, _ = _schedule_with_attendance(ATTENDANCE)
    cold = _job_path_delete(s.id)  # first in the process: pays for creating its clients
    ours: list[float] = []
    floor: list[float] = []
    base: list[float] = []
    for _ in range(DELETE_ROUNDS):
        s, _ = _schedule_with_attendance(ATTENDANCE)
        gc.collect()  # each timed run starts with no garbage left by its setup (a full collection inside one skews it)
        ours.append(_job_path_delete(s.id))
        floor.append(_floor_delete(ddb, table))
        base.append(_base_delete(ddb, table))
    o, f, b = statistics.median(ours), statistics.median(floor), statistics.median(base)
    return [
        {
            "name": f"cascade delete, {ATTENDANCE:,} attendance (job path) vs its floor, CPU",
            "value": o,
            "unit": "s",
            "baseline": f,
            "ratio": o / f,
            "goal": 1.15,
        },
        {"name": "cascade delete: first run in the process (cold clients)", "value": cold, "unit": "s"},
        {
            "name": "cascade delete floor: keys-only Query + batch delete vs raw delete of known keys",
            "value": f,
            "unit": "s",
            "baseline": b,
            "ratio": f / b,
            "goal": None,
        },
        {
            "name": f"cascade delete vs its floor: lowest and highest of {DELETE_ROUNDS} rounds",
            "value": round(min(x / y for x, y in zip(ours, floor, strict=True)), 2),
            "unit": "x",
            "baseline": round(max(x / y for x, y in zip(ours, floor, strict=True)), 2),
        },
    ]


def run() -> list[dict]:
    set_env(log_level="ERROR")
    with deployed_aws():
        rows = _bench_delete()
    return rows
