"""Academic: the cascade delete of 1,000 attendance records and the scheduler over 10,000 daily tasks.

Both sides run in-process against moto (``mock_aws``), in the same run:
- cascade delete: ``DELETE`` semantics end to end (count, dispatch, mark, the job's chunked deletes,
  members, the schedule) vs a raw ``BatchWriteItem`` delete of the same 1,000 keys (known upfront).
- scheduler: ``run_scheduler`` (index pages, batch reads, one conditional put per missing instance)
  vs raw ``BatchWriteItem`` puts of 10,000 instance items; and the idempotent second run's writes,
  counted at the botocore level (every PutItem/BatchWriteItem/TransactWriteItems/UpdateItem/DeleteItem).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench._common import deployed_aws, set_env

ATTENDANCE = 1_000
TASKS = 10_000
WRITE_OPS = ("PutItem", "BatchWriteItem", "TransactWriteItems", "UpdateItem", "DeleteItem")


class Writes:
    """Counts write calls on one botocore client."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        for op in WRITE_OPS:
            client.meta.events.register(f"after-call.dynamodb.{op}", self._after)

    def _after(self, **_: Any) -> None:
        self.calls += 1


def _raw_batch(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    for i in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[i : i + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _schedule_with_attendance(n: int) -> tuple[Any, list[str]]:
    from chalicelib.academic import recurrence, schedules
    from chalicelib.academic.students import create as create_student

    students = [create_student("bench-cust", f"S{i}").id for i in range(10)]
    start = datetime(2020, 1, 6, 16, tzinfo=UTC)
    times = recurrence.ScheduleTimes(start, start + timedelta(hours=1), "weekly", None, "UTC")
    s = schedules.create("Bench", students, times)
    first = date(2020, 1, 6)
    recs = [(first + timedelta(weeks=i // len(students)), students[i % len(students)], "present") for i in range(n)]
    schedules.bulk_put_attendance(s, recs)
    keys = [schedules.attendance_key(d, sid) for d, sid, _ in recs]
    return s, keys


def _run_job(job_id: str) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.jobs.worker import run_record

    body = json.dumps({"job_id": job_id, "type": "delete_schedule", "v": 1})
    run_record(
        SQSRecord({"messageId": job_id, "receiptHandle": "bench", "body": body, "attributes": {"ApproximateReceiveCount": "1"}}),
        "jobs",
    )


def _bench_delete() -> list[dict]:
    import boto3

    from chalicelib.academic import schedules

    ddb = boto3.client("dynamodb")
    table = schedules.Attendance.Meta.table_name

    s, _ = _schedule_with_attendance(ATTENDANCE)
    t0 = time.perf_counter()
    out = schedules.delete(s.id)
    _run_job(out["job_id"])
    ours = time.perf_counter() - t0
    left = sum(1 for _ in schedules.Attendance.query(s.id, consistent_read=True))
    if left or schedules.find(s.id) is not None:
        raise AssertionError(f"cascade delete left {left} records")

    s2, keys = _schedule_with_attendance(ATTENDANCE)
    reqs = [{"DeleteRequest": {"Key": {"schedule_id": {"S": s2.id}, "key": {"S": k}}}} for k in keys]
    t0 = time.perf_counter()
    _raw_batch(ddb, table, reqs)
    base = time.perf_counter() - t0
    return [
        {
            "name": f"cascade delete, {ATTENDANCE:,} attendance (job path)",
            "value": ours,
            "unit": "s",
            "baseline": base,
            "ratio": ours / base,
            "goal": 1.5,
        }
    ]


def _bench_scheduler() -> list[dict]:
    import boto3

    from chalicelib.academic import tasks
    from chalicelib.academic.tasks import Task, TaskInstance
    from chalicelib.db import new_id, utcnow

    now = datetime(2025, 5, 1, 0, 5, tzinfo=UTC)
    with Task.batch_write() as batch:
        for i in range(TASKS):
            batch.save(
                Task(
                    id=new_id(),
                    title=f"T{i}",
                    recurrence="daily",
                    timezone=("UTC", "Europe/London", "Asia/Tokyo", "America/New_York")[i % 4],
                    starts_on="2025-01-01",
                    status="active",
                    active_daily="daily",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
    writes = Writes(TaskInstance._get_connection().connection.client)
    t0 = time.perf_counter()
    first = tasks.run_scheduler(now=now)
    ours = time.perf_counter() - t0
    if first["created"] != TASKS:
        raise AssertionError(f"scheduler created {first['created']} of {TASKS}")

    ddb = boto3.client("dynamodb")
    at = utcnow().isoformat()
    reqs = [
        {
            "PutRequest": {
                "Item": {
                    "task_id": {"S": f"raw-{i:05d}"},
                    "date": {"S": "2025-05-01"},
                    "status": {"S": "open"},
                    "timezone": {"S": "UTC"},
                    "series": {"S": "daily"},
                    "source": {"S": "scheduler"},
                    "created_at": {"S": at},
                    "updated_at": {"S": at},
                }
            }
        }
        for i in range(TASKS)
    ]
    t0 = time.perf_counter()
    _raw_batch(ddb, TaskInstance.Meta.table_name, reqs)
    base = time.perf_counter() - t0

    writes.calls = 0
    t0 = time.perf_counter()
    second = tasks.run_scheduler(now=now)
    again = time.perf_counter() - t0
    return [
        {
            "name": f"scheduler, {TASKS:,} daily tasks (first run)",
            "value": ours,
            "unit": "s",
            "baseline": base,
            "ratio": ours / base,
            "goal": 2,
        },
        {"name": "scheduler, idempotent second run: time", "value": again, "unit": "s"},
        {
            "name": "scheduler, idempotent second run: write calls",
            "value": writes.calls,
            "unit": "calls",
            "baseline": 0,
            "ratio": None,
            "goal": None,
            "created": second["created"],
        },
    ]


def run() -> list[dict]:
    set_env(log_level="ERROR")
    with deployed_aws():
        rows = _bench_delete()
        rows += _bench_scheduler()
    return rows
