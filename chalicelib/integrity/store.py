"""Integrity sweeps, the reads and writes over the other capabilities' rows and the bucket: each check's
bounded scan (one page per call, from a cursor) and the conditional or idempotent writes of its repairs.

Every repair re-checks its defect before writing, so a repeated or stale repair changes nothing.
The other capabilities' models are imported inside the functions (the sweep runs off the API path).
"""

from __future__ import annotations

import importlib
from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.db import condition_failed, decode_token, page, query_page, transition
from chalicelib.core.settings import get_settings
from chalicelib.integrity import domain
from chalicelib.integrity.domain import Finding, Repair, ScanPage

# The entity kinds a job may name whose rows the orphan-jobs check looks up: kind → (module, model).
ENTITY_MODELS = {"video": ("chalicelib.media.store", "Video"), "schedule": ("chalicelib.schedules.store", "Schedule")}


def _s3() -> Any:
    return aws.client("s3")


def _bucket() -> str:
    return get_settings().bucket_name


def _head(key: str) -> dict[str, Any] | None:
    try:
        head: dict[str, Any] = _s3().head_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head


def _scan(model: Any, cursor: str | None, budget: int, **kw: Any) -> tuple[list[Any], str | None]:
    """One bounded, consistent page of a table scan (pynamodb page helper: ≤ budget items)."""
    it = model.scan(limit=budget, page_size=budget, last_evaluated_key=decode_token(cursor), consistent_read=True, **kw)
    return page(it, budget)


def _eligibility_action(video_model: Any, count: int) -> Any:
    from chalicelib.media import domain as media

    eligibility = media.eligibility(count)
    return video_model.eligibility.set(eligibility) if eligibility else video_model.eligibility.remove()


# --- video_variants ------------------------------------------------------------------------------


def scan_videos(cursor: str | None, budget: int, now: datetime) -> ScanPage:
    from chalicelib.media import domain as media
    from chalicelib.media.store import Video

    videos, nxt = _scan(Video, cursor, budget)
    found: list[Finding] = []
    for v in videos:
        variants = list(v.variants or [])
        entity = {"type": "video", "id": v.id}
        for x in variants:
            head = _head(x.key)
            if head is None or int(head["ContentLength"]) != int(x.size_bytes):
                detail = {"variant": x.name, "key": x.key, "recorded_bytes": int(x.size_bytes)}
                detail["object_bytes"] = int(head["ContentLength"]) if head else None
                if x.name == media.ORIGINAL:  # only the customer has the file: a person decides
                    found.append(Finding("video_variants", "original_object_missing", entity, detail, None))
                else:
                    repair = {"action": "drop_variant", "video_id": v.id, "variant": x.name, "expected_count": len(variants)}
                    found.append(Finding("video_variants", "variant_object_missing", entity, detail, repair))
        if int(v.variant_count or 0) != len(variants):
            detail = {"variant_count": int(v.variant_count or 0), "variants": len(variants)}
            repair = {
                "action": "set_variant_count",
                "video_id": v.id,
                "from": int(v.variant_count or 0),
                "to": len(variants),
            }
            found.append(Finding("video_variants", "variant_count_mismatch", entity, detail, repair))
    return ScanPage(found, len(videos), nxt)


def set_variant_count(r: Repair, now: datetime) -> bool:
    """The count the variants say, only while the row is as the sweep saw it (count ``from``, ``to`` variants)."""
    from chalicelib.media.store import Video

    try:
        video = Video.get(r["video_id"], consistent_read=True)
    except Video.DoesNotExist:
        return False
    if len(video.variants or []) != r["to"] or int(video.variant_count or 0) != r["from"]:
        return False  # repaired already, or changed since
    actions = [Video.variant_count.set(r["to"]), _eligibility_action(Video, r["to"]), Video.updated_at.set(now)]
    return transition(video, actions, (Video.variant_count == r["from"]) & (Video.updated_at == video.updated_at))


def drop_variant(r: Repair, now: datetime) -> bool:
    """Remove a variant whose object is gone; the count follows (an optimised video becomes optimisable)."""
    from chalicelib.media.store import Video

    try:
        video = Video.get(r["video_id"], consistent_read=True)
    except Video.DoesNotExist:
        return False
    kept = [x for x in video.variants or [] if x.name != r["variant"]]
    if len(kept) == len(video.variants or []) or _head(next(x.key for x in video.variants if x.name == r["variant"])):
        return False  # already dropped, or the object is back
    count = len(kept)
    actions = [
        Video.variants.set(kept),
        Video.variant_count.set(count),
        _eligibility_action(Video, count),
        Video.updated_at.set(now),
    ]
    return transition(video, actions, Video.variant_count == int(video.variant_count or 0))


# --- attendance_orphans --------------------------------------------------------------------------


def scan_attendance(cursor: str | None, budget: int, now: datetime) -> ScanPage:
    from chalicelib.schedules.store import Attendance, Schedule

    rows, nxt = _scan(Attendance, cursor, budget, attributes_to_get=["schedule_id", "key"])
    ids = {r.schedule_id for r in rows}
    live = {s.id for s in Schedule.batch_get(list(ids), attributes_to_get=["id"])} if ids else set()
    found = [
        Finding(
            "attendance_orphans",
            "attendance_without_schedule",
            {"type": "schedule", "id": r.schedule_id},
            {"schedule_id": r.schedule_id, "key": r.key},
            {"action": "delete_attendance", "schedule_id": r.schedule_id, "key": r.key},
        )
        for r in rows
        if r.schedule_id not in live
    ]
    return ScanPage(found, len(rows), nxt)


def _delete(item: Any, condition: Any) -> bool:
    """Delete ``item`` only while ``condition`` holds; False when it refused (already gone)."""
    from pynamodb.exceptions import DeleteError

    try:
        item.delete(condition=condition)
    except DeleteError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def delete_attendance(r: Repair, now: datetime) -> bool:
    from chalicelib.schedules.store import Attendance, Schedule

    try:
        Schedule.get(r["schedule_id"], attributes_to_get=["id"])
        return False  # the schedule exists (again): not an orphan
    except Schedule.DoesNotExist:
        pass
    return _delete(Attendance(schedule_id=r["schedule_id"], key=r["key"]), Attendance.key.exists())


# --- future_instances ----------------------------------------------------------------------------


def scan_future(cursor: str | None, budget: int, now: datetime) -> ScanPage:
    from chalicelib.core.calendar import earliest_today
    from chalicelib.tasks.domain import DAILY, is_future
    from chalicelib.tasks.store import TaskInstance

    floor = earliest_today(now).isoformat()
    items, nxt = query_page(
        TaskInstance.by_series.query, DAILY, limit=budget, next_token=cursor, range_key_condition=TaskInstance.date > floor
    )
    found = [
        Finding(
            "future_instances",
            "instance_after_local_today",
            {"type": "task", "id": i.task_id},
            {"task_id": i.task_id, "date": i.date, "timezone": i.timezone},
            {"action": "delete_future_instance", "task_id": i.task_id, "date": i.date},
        )
        for i in items
        if is_future(date.fromisoformat(i.date), i.timezone, now)
    ]
    return ScanPage(found, len(items), nxt)


def delete_future_instance(r: Repair, now: datetime) -> bool:
    from chalicelib.tasks.domain import DAILY, is_future
    from chalicelib.tasks.store import TaskInstance

    try:
        inst = TaskInstance.get(r["task_id"], r["date"], consistent_read=True)
    except TaskInstance.DoesNotExist:
        return False
    if inst.series != DAILY or not is_future(date.fromisoformat(inst.date), inst.timezone, now):
        return False  # its day has come meanwhile: keep it
    return _delete(inst, TaskInstance.date.exists())


# --- homework_objects ----------------------------------------------------------------------------


def scan_homework(cursor: str | None, budget: int, now: datetime) -> ScanPage:
    from chalicelib.media import domain as media
    from chalicelib.media.store import Homework

    rows, nxt = _scan(Homework, cursor, budget)
    found = []
    for hw in rows:
        if hw.status not in media.SUBMITTED:  # uploaded or reviewed: its kept file must exist
            continue
        head = _head(hw.key)
        if head is None or int(head["ContentLength"]) != int(hw.size_bytes):
            detail = {
                "key": hw.key,
                "size_bytes": int(hw.size_bytes),
                "object_bytes": int(head["ContentLength"]) if head else None,
            }
            found.append(Finding("homework_objects", "homework_object_missing", {"type": "homework", "id": hw.id}, detail, None))
    return ScanPage(found, len(rows), nxt)


# --- orphan_objects and abandoned_uploads --------------------------------------------------------


def _referenced(keys: list[str]) -> set[str]:
    """The keys among ``keys`` that a homework or video row points at (one batch read per kind)."""
    from chalicelib.media.store import Homework, Video

    hw_ids = {i for k in keys if (i := domain.homework_id_of(k))}
    video_ids = {i for k in keys if (i := domain.video_id_of(k))}
    refs: set[str] = set()
    for hw in Homework.batch_get(list(hw_ids)) if hw_ids else []:
        refs.add(hw.key)
    for v in Video.batch_get(list(video_ids)) if video_ids else []:
        refs.update(x.key for x in v.variants or [])
        refs.update(k for k in (v.poster_key, v.original_key) if k)
    return refs


def scan_objects(cursor: str | None, budget: int, now: datetime) -> ScanPage:
    kw: dict[str, Any] = {"Bucket": _bucket(), "Prefix": "customers/", "MaxKeys": min(budget, 1000)}
    if cursor:
        kw["ContinuationToken"] = domain.decode_cursor(cursor)
    out = _s3().list_objects_v2(**kw)
    objects = out.get("Contents", [])
    cutoff = now - domain.FORM_LIFETIME
    old = [o for o in objects if o["LastModified"] < cutoff]
    refs = _referenced([o["Key"] for o in old])
    found = [
        Finding(
            "orphan_objects",
            "unreferenced_upload_object",
            {"type": "object", "id": o["Key"][-128:]},
            {"key": o["Key"], "size_bytes": int(o["Size"]), "last_modified": o["LastModified"].isoformat()},
            {"action": "delete_object", "key": o["Key"], "etag": o["ETag"]},
        )
        for o in old
        if o["Key"] not in refs
    ]
    nxt = domain.encode_cursor(out.get("NextContinuationToken")) if out.get("IsTruncated") else None
    return ScanPage(found, len(objects), nxt)


def delete_object(r: Repair, now: datetime) -> bool:
    head = _head(r["key"])
    if head is None or head.get("ETag") != r["etag"] or r["key"] in _referenced([r["key"]]):
        return False  # gone, replaced, or referenced since the scan
    _s3().delete_object(Bucket=_bucket(), Key=r["key"])
    return True


def scan_multipart(cursor: str | None, budget: int, now: datetime) -> ScanPage:
    kw: dict[str, Any] = {"Bucket": _bucket(), "Prefix": "customers/", "MaxUploads": min(budget, 1000)}
    if cursor:
        kw.update(domain.decode_cursor(cursor))
    out = _s3().list_multipart_uploads(**kw)
    uploads = out.get("Uploads", [])
    cutoff = now - domain.MULTIPART_LIFETIME
    # The age: the video row's creation when the upload is the row's own (moto reports every upload as
    # initiated in 2010), else S3's Initiated (an upload without its row: the start failed half-way).
    from chalicelib.media.store import Video

    ids = {i for u in uploads if (i := domain.video_id_of(u["Key"]))}
    rows = {v.id: v for v in Video.batch_get(list(ids))} if ids else {}
    found = []
    for u in uploads:
        video_id = domain.video_id_of(u["Key"])
        row = rows.get(video_id) if video_id else None
        started = row.created_at if row is not None and row.upload_id == u["UploadId"] else u["Initiated"]
        if started < cutoff:
            detail = {"key": u["Key"], "upload_id": u["UploadId"], "initiated": started.isoformat()}
            repair = {"action": "abort_upload", "key": u["Key"], "upload_id": u["UploadId"], "video_id": video_id}
            entity = {"type": "video", "id": video_id or "?"}
            found.append(Finding("abandoned_uploads", "abandoned_multipart_upload", entity, detail, repair))
    nxt = None
    if out.get("IsTruncated"):
        nxt = domain.encode_cursor({"KeyMarker": out["NextKeyMarker"], "UploadIdMarker": out["NextUploadIdMarker"]})
    return ScanPage(found, len(uploads), nxt)


def abort_upload(r: Repair, now: datetime) -> bool:
    from chalicelib.media import objects, store

    aborted = objects.abort_multipart(r["key"], r["upload_id"])
    if r.get("video_id"):
        try:
            video = store.Video.get(r["video_id"], consistent_read=True)
        except store.Video.DoesNotExist:
            return aborted
        if video.upload_id == r["upload_id"]:
            return store.delete_awaiting(video) or aborted
    return aborted


# --- orphan_jobs ---------------------------------------------------------------------------------


def scan_jobs(cursor: str | None, budget: int, now: datetime) -> ScanPage:
    from chalicelib.jobs import states
    from chalicelib.jobs.ledger import Job

    wanted = ["job_id", "type", "state", "entity_type", "entity_id"]
    jobs, nxt = _scan(Job, cursor, budget, attributes_to_get=wanted)
    open_jobs = [
        j
        for j in jobs
        if j.entity_type in ENTITY_MODELS and j.entity_id and j.type not in domain.ENTITY_GONE_BY_DESIGN
        and j.state in (states.QUEUED, states.RUNNING, states.FAILED)
    ]  # fmt: skip
    found = []
    for kind, (module, cls) in ENTITY_MODELS.items():
        ids = {j.entity_id for j in open_jobs if j.entity_type == kind}
        if not ids:
            continue
        model = getattr(importlib.import_module(module), cls)
        present = {row.id for row in model.batch_get(list(ids), attributes_to_get=["id"])}
        for j in open_jobs:
            if j.entity_type == kind and j.entity_id not in present:
                repair = {"action": "cancel_job", "job_id": j.job_id} if j.state != states.RUNNING else None
                detail = {"type": j.type, "state": j.state, "entity": {"type": kind, "id": j.entity_id}}
                found.append(Finding("orphan_jobs", "job_entity_gone", {"type": "job", "id": j.job_id}, detail, repair))
    return ScanPage(found, len(jobs), nxt)


# --- incidents -----------------------------------------------------------------------------------


def file_incident(f: Finding) -> None:
    """One backend incident per finding, grouped per check and kind; its context carries the repair."""
    from chalicelib.incidents import domain as incidents
    from chalicelib.incidents import service

    draft = incidents.build_draft(
        source="backend",
        area=f"{domain.INCIDENT_AREA}{f.check}",
        message=f"Integrity sweep {f.check}: {f.kind} ({f.entity['type']} {f.entity['id']})",
        actor=domain.ACTOR,
        backend_error={"code": f"integrity_{f.kind}", "message": f"integrity check {f.check} found {f.kind}"},
        entities=[f.entity],
        location=f"integrity:{f.check}",
        context={"check": f.check, "kind": f.kind, "detail": f.detail, "repair": f.repair},
        origin={"kind": "integrity", "check": f.check},
    )
    service.record(draft)


def incident(incident_id: str) -> tuple[str, str, Any] | None:
    """An incident's source, area and context (None: no such incident)."""
    from chalicelib.incidents.store import Incident

    try:
        found = Incident.get(incident_id, consistent_read=True)
    except Incident.DoesNotExist:
        return None
    return str(found.source), str(found.area), found.context
