"""Integrity sweeps: checks of the invariants the product relies on, each finding with its exact repair.

A check reads one bounded page at a time (``budget`` rows; a cursor resumes it) and returns
:class:`Finding` s. Every finding is filed as a backend incident (area ``backend.integrity.<check>``,
grouped per kind) whose context carries the repair; ``apply`` carries the repairs out in batches,
each batch audited (``integrity.repair``). Repairs are conditional or naturally idempotent: a second
apply finds nothing and changes nothing. Sweeps run from ``academy doctor`` and the scheduled
``integrity_sweep`` function, never inside an API request.

Checks: ``video_variants`` (variant_count equals the recorded variants; each variant's object exists
with its size), ``attendance_orphans`` (attendance of a schedule that is gone), ``future_instances``
(instances of a recurring task after its local today), ``homework_objects`` (uploaded homework points at
its object), ``orphan_objects`` (objects under the upload prefixes no row references, older than their
form's lifetime), ``abandoned_uploads`` (multipart uploads older than their lifetime), ``orphan_jobs`` (open jobs whose
entity is gone), ``stuck_jobs``.
At most one instance per (task, local date) holds by construction: (task_id, date) is the instance
table's key, so no sweep is needed for it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.db import condition_failed, page, utcnow
from chalicelib.core.settings import get_settings

ACTOR = {"role": "system", "id": "integrity-sweep"}
DEFAULT_BUDGET = 1000  # rows (or objects) read per check per run
MAX_CALLS_PER_RUN = 100  # pages per check per run, whatever they hold
FORM_LIFETIME = timedelta(hours=1)  # the longest presigned POST (videos); homework's is 15 min
MULTIPART_LIFETIME = timedelta(days=1)  # the bucket's AbortIncompleteMultipartUpload rule


@dataclass
class Finding:
    check: str
    kind: str  # what is wrong, e.g. "variant_count_mismatch"
    entity: dict[str, str]  # {"type", "id"}
    detail: dict[str, Any]
    repair: dict[str, Any] | None  # the exact repair ({"action", ...}); None: needs a person


@dataclass
class ScanPage:
    findings: list[Finding]
    read: int  # rows or objects read for this page
    cursor: str | None  # None: the check went through everything


@dataclass
class Check:
    name: str
    description: str
    scan: Callable[[str | None, int], ScanPage]
    repairs: dict[str, Callable[[dict[str, Any]], bool]]  # action → repair (True: it changed something)


@dataclass
class CheckReport:
    check: str
    read: int = 0
    findings: list[Finding] = field(default_factory=list)
    repaired: int = 0
    unchanged: int = 0
    manual: int = 0
    cursor: str | None = None

    def as_dict(self, sample: int = 20) -> dict[str, Any]:
        return {
            "check": self.check,
            "read": self.read,
            "found": len(self.findings),
            "repaired": self.repaired,
            "unchanged": self.unchanged,
            "manual": self.manual,
            "complete": self.cursor is None,
            "cursor": self.cursor,
            "sample": [asdict(f) for f in self.findings[:sample]],
        }


def _enc(value: Any) -> str | None:
    if value is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def _dec(cursor: str | None) -> Any:
    return json.loads(base64.urlsafe_b64decode(cursor.encode())) if cursor else None


def _s3() -> Any:
    return aws.client("s3")


def _bucket() -> str:
    return get_settings().bucket_name


def _head(key: str) -> dict[str, Any] | None:
    try:
        return _s3().head_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _scan(model: Any, cursor: str | None, budget: int, **kw: Any) -> tuple[list[Any], str | None]:
    """One bounded, consistent page of a table scan (pynamodb page helper: ≤ budget items)."""
    from chalicelib.core.db import decode_token

    it = model.scan(limit=budget, page_size=budget, last_evaluated_key=decode_token(cursor), consistent_read=True, **kw)
    return page(it, budget)


# --- video_variants ------------------------------------------------------------------------------


def _scan_videos(cursor: str | None, budget: int) -> ScanPage:
    from chalicelib.media import domain
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
                if x.name == domain.ORIGINAL:  # only the customer has the file: a person decides
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


def _set_variant_count(r: dict[str, Any]) -> bool:
    """The count the variants say, only while the row is as the sweep saw it (count ``from``, ``to`` variants)."""
    from pynamodb.exceptions import UpdateError

    from chalicelib.media import domain
    from chalicelib.media.store import Video

    try:
        video = Video.get(r["video_id"], consistent_read=True)
    except Video.DoesNotExist:
        return False
    if len(video.variants or []) != r["to"] or int(video.variant_count or 0) != r["from"]:
        return False  # repaired already, or changed since
    try:
        video.update(
            actions=[
                Video.variant_count.set(r["to"]),
                Video.eligibility.set(domain.eligibility(r["to"])) if domain.eligibility(r["to"]) else Video.eligibility.remove(),
                Video.updated_at.set(utcnow()),
            ],
            condition=(Video.variant_count == r["from"]) & (Video.updated_at == video.updated_at),
        )
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


def _drop_variant(r: dict[str, Any]) -> bool:
    """Remove a variant whose object is gone; the count follows (an optimised video becomes optimisable)."""
    from pynamodb.exceptions import UpdateError

    from chalicelib.media import domain
    from chalicelib.media.store import Video

    try:
        video = Video.get(r["video_id"], consistent_read=True)
    except Video.DoesNotExist:
        return False
    kept = [x for x in video.variants or [] if x.name != r["variant"]]
    if len(kept) == len(video.variants or []) or _head(next(x.key for x in video.variants if x.name == r["variant"])):
        return False  # already dropped, or the object is back
    count = len(kept)
    try:
        video.update(
            actions=[
                Video.variants.set(kept),
                Video.variant_count.set(count),
                Video.eligibility.set(domain.eligibility(count)) if domain.eligibility(count) else Video.eligibility.remove(),
                Video.updated_at.set(utcnow()),
            ],
            condition=Video.variant_count == int(video.variant_count or 0),
        )
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


# --- attendance_orphans --------------------------------------------------------------------------


def _scan_attendance(cursor: str | None, budget: int) -> ScanPage:
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


def _delete_attendance(r: dict[str, Any]) -> bool:
    from pynamodb.exceptions import DeleteError

    from chalicelib.schedules.store import Attendance, Schedule

    try:
        Schedule.get(r["schedule_id"], attributes_to_get=["id"])
        return False  # the schedule exists (again): not an orphan
    except Schedule.DoesNotExist:
        pass
    try:
        Attendance(schedule_id=r["schedule_id"], key=r["key"]).delete(condition=Attendance.key.exists())
        return True
    except DeleteError as exc:
        if condition_failed(exc):
            return False
        raise


# --- future_instances ----------------------------------------------------------------------------


def _scan_future(cursor: str | None, budget: int) -> ScanPage:
    from chalicelib.core.db import decode_token
    from chalicelib.tasks import domain as recurrence
    from chalicelib.tasks.domain import DAILY
    from chalicelib.tasks.store import TaskInstance

    now = utcnow()
    floor = recurrence.earliest_today(now).isoformat()
    it = TaskInstance.by_series.query(
        DAILY, TaskInstance.date > floor, limit=budget, page_size=budget, last_evaluated_key=decode_token(cursor)
    )
    items, nxt = page(it, budget)
    found = [
        Finding(
            "future_instances",
            "instance_after_local_today",
            {"type": "task", "id": i.task_id},
            {"task_id": i.task_id, "date": i.date, "timezone": i.timezone},
            {"action": "delete_future_instance", "task_id": i.task_id, "date": i.date},
        )
        for i in items
        if recurrence.is_future(date.fromisoformat(i.date), i.timezone, now)
    ]
    return ScanPage(found, len(items), nxt)


def _delete_future_instance(r: dict[str, Any]) -> bool:
    from pynamodb.exceptions import DeleteError

    from chalicelib.tasks import domain as recurrence
    from chalicelib.tasks.domain import DAILY
    from chalicelib.tasks.store import TaskInstance

    try:
        inst = TaskInstance.get(r["task_id"], r["date"], consistent_read=True)
    except TaskInstance.DoesNotExist:
        return False
    if inst.series != DAILY or not recurrence.is_future(date.fromisoformat(inst.date), inst.timezone, utcnow()):
        return False  # its day has come meanwhile: keep it
    try:
        inst.delete(condition=TaskInstance.date.exists())
        return True
    except DeleteError as exc:
        if condition_failed(exc):
            return False
        raise


# --- homework_objects ----------------------------------------------------------------------------


def _scan_homework(cursor: str | None, budget: int) -> ScanPage:
    from chalicelib.media import domain
    from chalicelib.media.store import Homework

    rows, nxt = _scan(Homework, cursor, budget)
    found = []
    for hw in rows:
        if hw.status != domain.UPLOADED:
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

_HOMEWORK_KEY = re.compile(r"^customers/[^/]+/students/[^/]+/homework/(?P<id>[A-Za-z0-9_-]+)(/|\.)")
_VIDEO_KEY = re.compile(r"^customers/[^/]+/students/[^/]+/videos/(?P<id>[A-Za-z0-9_-]+)/")


def _referenced(keys: list[str]) -> set[str]:
    """The keys among ``keys`` that a homework or video row points at (one batch read per kind)."""
    from chalicelib.media.store import Homework, Video

    hw_ids = {m["id"] for k in keys if (m := _HOMEWORK_KEY.match(k))}
    video_ids = {m["id"] for k in keys if (m := _VIDEO_KEY.match(k))}
    refs: set[str] = set()
    for hw in Homework.batch_get(list(hw_ids)) if hw_ids else []:
        refs.add(hw.key)
    for v in Video.batch_get(list(video_ids)) if video_ids else []:
        refs.update(x.key for x in v.variants or [])
        refs.update(k for k in (v.poster_key, v.original_key) if k)
    return refs


def _scan_objects(cursor: str | None, budget: int) -> ScanPage:
    kw: dict[str, Any] = {"Bucket": _bucket(), "Prefix": "customers/", "MaxKeys": min(budget, 1000)}
    if cursor:
        kw["ContinuationToken"] = _dec(cursor)
    out = _s3().list_objects_v2(**kw)
    objects = out.get("Contents", [])
    cutoff = utcnow() - FORM_LIFETIME
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
    return ScanPage(found, len(objects), _enc(out.get("NextContinuationToken")) if out.get("IsTruncated") else None)


def _delete_object(r: dict[str, Any]) -> bool:
    head = _head(r["key"])
    if head is None or head.get("ETag") != r["etag"] or r["key"] in _referenced([r["key"]]):
        return False  # gone, replaced, or referenced since the scan
    _s3().delete_object(Bucket=_bucket(), Key=r["key"])
    return True


def _scan_multipart(cursor: str | None, budget: int) -> ScanPage:
    kw: dict[str, Any] = {"Bucket": _bucket(), "Prefix": "customers/", "MaxUploads": min(budget, 1000)}
    if cursor:
        kw.update(_dec(cursor))
    out = _s3().list_multipart_uploads(**kw)
    uploads = out.get("Uploads", [])
    cutoff = utcnow() - MULTIPART_LIFETIME
    # The age: the video row's creation when the upload is the row's own (moto reports every upload as
    # initiated in 2010), else S3's Initiated (an upload without its row: the start failed half-way).
    from chalicelib.media.store import Video

    ids = {m["id"] for u in uploads if (m := _VIDEO_KEY.match(u["Key"]))}
    rows = {v.id: v for v in Video.batch_get(list(ids))} if ids else {}
    found = []
    for u in uploads:
        m = _VIDEO_KEY.match(u["Key"])
        row = rows.get(m["id"]) if m else None
        started = row.created_at if row is not None and row.upload_id == u["UploadId"] else u["Initiated"]
        if started < cutoff:
            detail = {"key": u["Key"], "upload_id": u["UploadId"], "initiated": started.isoformat()}
            repair = {"action": "abort_upload", "key": u["Key"], "upload_id": u["UploadId"], "video_id": m["id"] if m else None}
            entity = {"type": "video", "id": repair["video_id"] or "?"}
            found.append(Finding("abandoned_uploads", "abandoned_multipart_upload", entity, detail, repair))
    nxt = None
    if out.get("IsTruncated"):
        nxt = _enc({"KeyMarker": out["NextKeyMarker"], "UploadIdMarker": out["NextUploadIdMarker"]})
    return ScanPage(found, len(uploads), nxt)


def _abort_upload(r: dict[str, Any]) -> bool:
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


# --- stuck_jobs ----------------------------------------------------------------------------------


def _scan_stuck(cursor: str | None, budget: int) -> ScanPage:
    from chalicelib.jobs import operations, states

    jobs, nxt = operations.list_jobs(min(budget, 100), cursor, operations.STUCK, None)
    found = []
    for j in jobs:
        repair = {"action": "retry_job", "job_id": j.job_id} if j.state == states.QUEUED else None  # a lost message: re-send
        detail = {"state": j.state, "type": j.type, "updated_at": j.to_dict().get("updated_at")}
        found.append(Finding("stuck_jobs", f"stuck_{j.state}_job", {"type": "job", "id": j.job_id}, detail, repair))
    return ScanPage(found, len(jobs), nxt)


def _retry_job(r: dict[str, Any]) -> bool:
    from chalicelib.core.errors import ApiError
    from chalicelib.jobs import operations

    try:
        operations.retry_job(r["job_id"], ACTOR)
        return True
    except ApiError:  # no longer stuck (picked up, retried or cancelled meanwhile)
        return False


# --- orphan_jobs ---------------------------------------------------------------------------------

ENTITY_MODELS = {"video": ("chalicelib.media.store", "Video"), "schedule": ("chalicelib.schedules.store", "Schedule")}
ENTITY_GONE_BY_DESIGN = {"delete_schedule"}  # a delete job outlives the schedule it removed


def _scan_jobs(cursor: str | None, budget: int) -> ScanPage:
    import importlib

    from chalicelib.jobs import states
    from chalicelib.jobs.ledger import Job

    wanted = ["job_id", "type", "state", "entity_type", "entity_id"]
    jobs, nxt = _scan(Job, cursor, budget, attributes_to_get=wanted)
    open_jobs = [
        j
        for j in jobs
        if j.entity_type in ENTITY_MODELS and j.entity_id and j.type not in ENTITY_GONE_BY_DESIGN
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


def _cancel_job(r: dict[str, Any]) -> bool:
    from chalicelib.core.errors import ApiError
    from chalicelib.jobs import operations

    try:
        operations.cancel_job(r["job_id"], ACTOR)
        return True
    except ApiError:  # already cancelled, or started meanwhile
        return False


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check("video_variants", "variant_count equals the recorded variants; each variant's object exists with its size",
              _scan_videos, {"set_variant_count": _set_variant_count, "drop_variant": _drop_variant}),
        Check("attendance_orphans", "no attendance for a missing or deleted schedule", _scan_attendance,
              {"delete_attendance": _delete_attendance}),
        Check("future_instances", "no instance of a recurring task dated after its local today", _scan_future,
              {"delete_future_instance": _delete_future_instance}),
        Check("homework_objects", "uploaded homework points at an existing object of its size", _scan_homework, {}),
        Check("orphan_objects", "no object under the upload prefixes that no row references, past its form's lifetime",
              _scan_objects, {"delete_object": _delete_object}),
        Check("abandoned_uploads", "no multipart upload older than its lifetime", _scan_multipart,
              {"abort_upload": _abort_upload}),
        Check("orphan_jobs", "no queued, running or failed job whose video or schedule is gone", _scan_jobs,
              {"cancel_job": _cancel_job}),
        Check("stuck_jobs", "no stuck job (running with a stale heartbeat, or queued with its message lost)", _scan_stuck,
              {"retry_job": _retry_job}),
    )
}  # fmt: skip


def file_incident(f: Finding) -> None:
    """One backend incident per finding, grouped per check and kind; its context carries the repair."""
    from chalicelib.incidents import domain, store

    draft = domain.build_draft(
        source="backend",
        area=f"backend.integrity.{f.check}",
        message=f"Integrity sweep {f.check}: {f.kind} ({f.entity['type']} {f.entity['id']})",
        actor=ACTOR,
        backend_error={"code": f"integrity_{f.kind}", "message": f"integrity check {f.check} found {f.kind}"},
        entities=[f.entity],
        location=f"integrity:{f.check}",
        context={"check": f.check, "kind": f.kind, "detail": f.detail, "repair": f.repair},
        origin={"kind": "integrity", "check": f.check},
    )
    store.record(draft)


def repair(f: Finding) -> bool:
    if f.repair is None:
        return False
    return CHECKS[f.check].repairs[f.repair["action"]](f.repair)


class NotRepairable(ValueError):
    """The incident is not an integrity finding with an automatic repair."""


def repair_incident(
    incident_id: str, actor: dict[str, Any], refuse: Callable[[dict[str, Any]], str | None] | None = None
) -> dict[str, Any]:
    """The console's button: carry out the repair an integrity incident carries (audited, idempotent).

    Only incidents the server filed itself (``source: backend``, area ``backend.integrity.*``: a client
    can never file in ``backend.``) are accepted, and every repair re-checks its defect before writing.
    ``refuse(repair)``: why this caller may not carry that repair out (NotRepairable), or None.
    """
    from chalicelib.core import audit
    from chalicelib.incidents.store import Incident

    try:
        incident = Incident.get(incident_id, consistent_read=True)
    except Incident.DoesNotExist:
        raise KeyError(incident_id) from None
    ctx = incident.context if isinstance(incident.context, dict) else {}
    check, fix = ctx.get("check"), ctx.get("repair")
    if incident.source != "backend" or not incident.area.startswith("backend.integrity.") or check not in CHECKS:
        raise NotRepairable("This incident is not an integrity finding.")
    if not isinstance(fix, dict) or fix.get("action") not in CHECKS[check].repairs:
        raise NotRepairable("This finding has no automatic repair: it needs a person.")
    if refuse is not None and (reason := refuse(fix)):
        raise NotRepairable(reason)
    changed = CHECKS[check].repairs[fix["action"]](fix)
    audit.record(actor, "integrity.repair", f"check:{check}", {"incident_id": incident_id, "repair": fix}, {"changed": changed})
    return {"incident_id": incident_id, "check": check, "repair": fix, "changed": changed}


def run_check(
    name: str,
    *,
    apply: bool = False,
    budget: int = DEFAULT_BUDGET,
    page_size: int = 200,
    cursor: str | None = None,
    file_incidents: bool = True,
    on_page: Callable[[CheckReport, ScanPage], None] | None = None,
    actor: dict[str, Any] | None = None,
) -> CheckReport:
    """Read ≤ ``budget`` rows of one check, page by page from ``cursor``; file and (if ``apply``) repair."""
    from chalicelib.core import audit

    check = CHECKS[name]
    report = CheckReport(name, cursor=cursor)
    calls = 0
    while report.read < budget:
        scanned = check.scan(report.cursor, min(page_size, budget - report.read))
        report.read += scanned.read
        report.cursor = scanned.cursor
        report.findings += scanned.findings
        for f in scanned.findings:
            if file_incidents:
                file_incident(f)
        if apply and scanned.findings:
            changed = [f.repair for f in scanned.findings if repair(f)]
            manual = sum(1 for f in scanned.findings if f.repair is None)
            report.repaired += len(changed)
            report.manual += manual
            report.unchanged += len(scanned.findings) - len(changed) - manual
            audit.record(
                actor or ACTOR,
                "integrity.repair",
                f"check:{name}",
                {"findings": len(scanned.findings), "repairs": changed[:20]},
                {"repaired": len(changed), "manual": manual},
            )
        else:
            report.manual += sum(1 for f in scanned.findings if f.repair is None)
        if on_page:
            on_page(report, scanned)
        calls += 1
        if scanned.cursor is None or calls >= MAX_CALLS_PER_RUN:  # (a filtered page may read nothing yet go on)
            break
    return report


def iter_checks(names: list[str] | None) -> Iterator[str]:
    for name in names or list(CHECKS):
        if name not in CHECKS:
            raise KeyError(name)
        yield name
