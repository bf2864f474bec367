"""Integrity sweeps over 10,000 rows per check (all 8 checks): time per row, and DynamoDB items read per row checked.

Runs in-process against moto (``mock_aws``). Each check's table (or prefix) is filled with 10,000
healthy rows plus 5 planted defects (each check must find exactly those 5), then the check sweeps it
whole (dry run, pages of 1,000; stuck_jobs pages by 100), resumed from its cursor when a run stops
at its page cap, as the scheduled sweep does. "Items read" is DynamoDB's own ``ScannedCount`` over
every Scan/Query, plus the items of every BatchGetItem the check makes to cross-reference (schedules,
videos, rows of objects), observed through botocore's event hooks. Goal: each row read once (scanned
items per row ≤ 1.0; cross-reference reads are listed beside it). S3 calls are counted too
(HeadObject per variant or homework, ListObjectsV2 / ListMultipartUploads pages).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bench._common import deployed_aws, set_env

ROWS = int(os.environ.get("BENCH_INTEGRITY_ROWS", "10000"))
DEFECTS = 5
PAGE = 1000


class Reads:
    """Sums ScannedCount of Scan/Query and the items BatchGetItem returns, on the DynamoDB clients; counts S3 calls."""

    def __init__(self) -> None:
        self.scanned = self.batch = self.s3_calls = 0
        self._hooked: set[int] = set()

    def hook(self, client: Any) -> None:
        if id(client) in self._hooked:
            return
        self._hooked.add(id(client))
        events = client.meta.events
        if client.meta.service_model.service_name == "s3":
            events.register("after-call.s3", self._s3)
            return
        for op in ("Query", "Scan"):
            events.register(f"after-call.dynamodb.{op}", self._scan)
        events.register("after-call.dynamodb.BatchGetItem", self._batch)

    def _scan(self, parsed: dict[str, Any], **_: Any) -> None:
        self.scanned += int(parsed.get("ScannedCount", 0))

    def _batch(self, parsed: dict[str, Any], **_: Any) -> None:
        self.batch += sum(len(v) for v in parsed.get("Responses", {}).values())

    def _s3(self, **_: Any) -> None:
        self.s3_calls += 1

    def reset(self) -> None:
        self.scanned = self.batch = self.s3_calls = 0


def _fill_attendance() -> None:
    from chalicelib.core.db import new_id, utcnow
    from chalicelib.schedules.store import Attendance, Schedule

    now = utcnow()
    live = []
    with Schedule.batch_write() as b:
        for _ in range(ROWS // 100):
            sid = new_id()
            live.append(sid)
            b.save(
                Schedule(id=sid, title="s", starts_at=now, ends_at=now + timedelta(hours=1), first_on="2026-01-05",
                         active_until="2026-01-05", created_at=now, updated_at=now)
            )  # fmt: skip
    with Attendance.batch_write() as b:
        for i in range(ROWS):
            sid = live[i % len(live)] if i >= DEFECTS else f"01JGONE{i:019d}"
            b.save(Attendance(schedule_id=sid, key=f"2026-01-05#s{i}", date="2026-01-05", student_id=f"s{i}",
                              status="present", created_at=now, updated_at=now))  # fmt: skip


def _fill_future() -> None:
    from chalicelib.core.db import utcnow
    from chalicelib.tasks.domain import DAILY
    from chalicelib.tasks.store import TaskInstance

    now = utcnow()
    with TaskInstance.batch_write() as b:
        for i in range(ROWS):
            days = 5 if i < DEFECTS else 0  # today's instances are healthy; a few in the future
            day = (now + timedelta(days=days)).date().isoformat()
            b.save(TaskInstance(task_id=f"task{i:06d}", date=day, series=DAILY, timezone="UTC", created_at=now, updated_at=now))


def _fill_videos() -> None:
    from chalicelib.core import aws
    from chalicelib.core.db import utcnow
    from chalicelib.core.settings import get_settings
    from chalicelib.media import domain
    from chalicelib.media.store import Variant, Video

    s3, bucket, now = aws.client("s3"), get_settings().bucket_name, utcnow()
    with Video.batch_write() as b:
        for i in range(ROWS):
            vid = f"01JVIDEO{i:018d}"
            key = f"customers/c/students/s/videos/{vid}/original.mp4"
            if i >= DEFECTS:  # the defects: an original recorded with no object
                s3.put_object(Bucket=bucket, Key=key, Body=b"x")
            original = Variant(name="original", key=key, size_bytes=1, content_type="video/mp4")
            b.save(Video(id=vid, customer_id="c", student_id="s", filename="p.mp4", content_type="video/mp4", size_bytes=1,
                         original_key=key, status=domain.UPLOADED, variants=[original], variant_count=1,
                         eligibility=domain.OPTIMISABLE, created_at=now, updated_at=now))  # fmt: skip


def _fill_orphans() -> None:
    """The videos' objects (10,000 - 5, referenced) plus 5 that no row references; the clock moves past the forms."""
    from chalicelib.core import aws
    from chalicelib.core.db import utcnow
    from chalicelib.core.settings import get_settings
    from chalicelib.integrity import service

    for i in range(DEFECTS):
        key = f"customers/c/students/s/homework/01JORPHAN{i:017d}/upload.pdf"
        aws.client("s3").put_object(Bucket=get_settings().bucket_name, Key=key, Body=b"%PDF")
    service.TUNABLES = replace(service.TUNABLES, clock=lambda: utcnow() + timedelta(hours=2))


def _fill_homework() -> None:
    """Uploaded homework with its object; the defects: 3 objects missing, 2 of another size."""
    from chalicelib.core import aws
    from chalicelib.core.db import utcnow
    from chalicelib.core.settings import get_settings
    from chalicelib.media import domain
    from chalicelib.media.store import Homework

    s3, bucket, now = aws.client("s3"), get_settings().bucket_name, utcnow()
    with Homework.batch_write() as b:
        for i in range(ROWS):
            hid = f"01JHOMEWORK{i:015d}"
            key = f"customers/c/students/s/homework/{hid}/submitted-e.pdf"
            if i >= DEFECTS // 2:  # the first defects have no object, the next an object of another size
                s3.put_object(Bucket=bucket, Key=key, Body=b"%PDF" if i >= DEFECTS else b"%PD")
            b.save(Homework(id=hid, customer_id="c", student_id="s", filename="h.pdf", content_type="application/pdf",
                            size_bytes=4, key=key, status=domain.UPLOADED, created_at=now, uploaded_at=now))  # fmt: skip


def _fill_multipart() -> None:
    """Multipart uploads of videos started now (healthy: their row says so); the defects: 3 rows started
    two days ago, 2 uploads with no row (moto's Initiated, 2010)."""
    from chalicelib.core import aws
    from chalicelib.core.db import utcnow
    from chalicelib.core.settings import get_settings
    from chalicelib.media.store import Video

    s3, bucket, now = aws.client("s3"), get_settings().bucket_name, utcnow()
    with Video.batch_write() as b:
        for i in range(ROWS):
            vid = f"01JUPLOAD{i:017d}"
            key = f"customers/c/students/s/videos/{vid}/original.mp4"
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="video/mp4")["UploadId"]
            if DEFECTS // 2 < i < DEFECTS:
                continue  # an upload whose row was never written (the start failed half-way)
            created = now - timedelta(days=2) if i <= DEFECTS // 2 else now
            b.save(Video(id=vid, customer_id="c", student_id="s", filename="p.mp4", content_type="video/mp4",
                         size_bytes=10 * 2**20, original_key=key, upload_id=upload_id, part_size=5 * 2**20, part_count=2,
                         created_at=created, updated_at=created))  # fmt: skip


def _job(i: int, job_type: str, state: str, entity: tuple[str, str] | None = None, **kw: Any) -> Any:
    from chalicelib.core.db import new_id, utcnow
    from chalicelib.jobs.ledger import Job
    from chalicelib.jobs.registry import get

    now = utcnow()
    jt = get(job_type)
    assert jt is not None
    job = Job(job_id=new_id(), type=job_type, state=state, queue=jt.queue, payload={"n": i}, attempts=1,
              timeout_s=jt.timeout_s, created_at=now, updated_at=kw.pop("updated_at", now), **kw)  # fmt: skip
    if entity:
        job.entity_type, job.entity_id, job.entity_key = entity[0], entity[1], f"{entity[0]}:{entity[1]}"
    return job


def _fill_orphan_jobs() -> None:
    """Closed and failed jobs (none queued or running: those are stuck_jobs' rows): a quarter succeeded, half
    failed on a live video, a quarter ``delete_schedule`` whose schedule is gone by design (not a finding);
    the defects: failed jobs whose video is gone."""
    from chalicelib.jobs import states
    from chalicelib.jobs.ledger import Job

    with Job.batch_write() as b:
        for i in range(ROWS):
            video = ("video", f"01JVIDEO{i:018d}")  # the video_variants rows (all present)
            if i < DEFECTS:
                job = _job(i, "process_video_proof", states.FAILED, ("video", f"01JGONEVIDEO{i:014d}"))
            elif i % 4 == 0:
                job = _job(i, "process_video_proof", states.SUCCEEDED, video)
            elif i % 4 in (1, 2):
                job = _job(i, "process_video_proof", states.FAILED, video)
            else:
                job = _job(i, "delete_schedule", states.SUCCEEDED, ("schedule", f"01JGONESCHED{i:014d}"))
            b.save(job)


def _fill_stuck_jobs() -> None:
    """Queued and running jobs, fresh; the defects: 3 running with a heartbeat an hour old (timeout 5 min),
    2 queued for three hours (their message lost)."""
    from chalicelib.core.db import utcnow
    from chalicelib.jobs import states
    from chalicelib.jobs.ledger import Job

    now = utcnow()
    with Job.batch_write() as b:
        for i in range(ROWS):
            if i < DEFECTS // 2 + 1:
                job = _job(i, "process_video_proof", states.RUNNING, heartbeat_at=now - timedelta(hours=1), started_at=now)
            elif i < DEFECTS:
                job = _job(i, "noop", states.QUEUED, updated_at=now - timedelta(hours=3))
            elif i % 2:
                job = _job(i, "process_video_proof", states.RUNNING, heartbeat_at=now, started_at=now)
            else:
                job = _job(i, "noop", states.QUEUED)
            b.save(job)


CHECKS = {
    "attendance_orphans": _fill_attendance,
    "future_instances": _fill_future,
    "video_variants": _fill_videos,
    "orphan_objects": _fill_orphans,  # after video_variants: its objects are the healthy rows
    "homework_objects": _fill_homework,  # after orphan_objects: its objects would be more rows there
    "abandoned_uploads": _fill_multipart,
    "orphan_jobs": _fill_orphan_jobs,  # after video_variants: its videos are the jobs' entities
    "stuck_jobs": _fill_stuck_jobs,  # after orphan_jobs: its rows sit in partitions this check never reads
}
# The kinds the planted defects must be found as (count per kind).
KINDS = {
    "attendance_orphans": {"attendance_without_schedule": DEFECTS},
    "future_instances": {"instance_after_local_today": DEFECTS},
    "video_variants": {"original_object_missing": DEFECTS},
    "orphan_objects": {"unreferenced_upload_object": DEFECTS},
    "homework_objects": {"homework_object_missing": DEFECTS},
    "abandoned_uploads": {"abandoned_multipart_upload": DEFECTS},
    "orphan_jobs": {"job_entity_gone": DEFECTS},
    "stuck_jobs": {"stuck_running_job": DEFECTS // 2 + 1, "stuck_queued_job": DEFECTS - DEFECTS // 2 - 1},
}
# What a check's report counts as read: its rows, but stuck_jobs counts only the stuck jobs it returns.
READ = {"stuck_jobs": DEFECTS}
NOTES = {
    "homework_objects": "one HeadObject per uploaded row (its object's size)",
    "abandoned_uploads": "one video row per upload, for its age (moto says 2010); moto ignores MaxUploads: 1 list in all",
    "orphan_jobs": "one video (or schedule) row per open job, batched, distinct per page",
    "stuck_jobs": "two state partitions, pages of 100 (the job listing's cap); a run stops at 100 pages, so the "
    "bench resumes from the cursor as the scheduled sweep does",
}


def run() -> list[dict]:
    set_env(log_level="WARNING", app=False)
    rows: list[dict] = []
    with deployed_aws():
        from chalicelib.core import aws
        from chalicelib.integrity import service
        from chalicelib.tables import ALL_MODELS

        buckets = [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"] if b["Name"].endswith(tuple("0123456789"))]
        os.environ["ACADEMY_BUCKET"] = buckets[0]  # the stack's media bucket (read from the environment on each use)
        reads = Reads()
        for name, fill in CHECKS.items():
            fill()
            for model in ALL_MODELS:  # every model has its own client (on one botocore session)
                reads.hook(model._get_connection().connection.client)
            reads.hook(aws.client("s3"))
            reads.reset()
            t = time.perf_counter()
            report = service.run_check(name, budget=10**9, page_size=PAGE, file_incidents=False)
            read, findings, runs = report.read, list(report.findings), 1
            while report.cursor is not None:  # a run stops at MAX_CALLS_PER_RUN pages: resume, as the schedule does
                report = service.run_check(name, budget=10**9, page_size=PAGE, cursor=report.cursor, file_incidents=False)
                read, runs = read + report.read, runs + 1
                findings += report.findings
            took = time.perf_counter() - t
            assert read == READ.get(name, ROWS), (name, read)
            assert len(findings) == DEFECTS, (name, len(findings), [f.kind for f in findings])
            assert dict(Counter(f.kind for f in findings)) == KINDS[name], (name, [f.kind for f in findings])
            if name in NOTES or runs > 1:
                print(f"   {name}: {runs} run(s); {NOTES.get(name, '')}", flush=True)
            rows += [
                {"name": f"integrity {name}: time per row ({ROWS:,} rows)", "value": took / ROWS * 1000, "unit": "ms"},
                {
                    "name": f"integrity {name}: items scanned per row",
                    "value": reads.scanned / ROWS,
                    "unit": "items",
                    "baseline": 1.0,
                    "ratio": reads.scanned / ROWS,
                    "goal": 1.0,
                    **({"note": NOTES[name]} if name in NOTES else {}),
                },
                {"name": f"integrity {name}: cross-reference reads per row", "value": reads.batch / ROWS, "unit": "items"},
                {"name": f"integrity {name}: S3 calls per row", "value": reads.s3_calls / ROWS, "unit": "calls"},
            ]
    return rows
