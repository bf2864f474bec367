"""Integrity sweeps: checks of the invariants the product relies on, each finding with its exact repair.

A check reads one bounded page at a time (``budget`` rows; a cursor resumes it) and returns
:class:`~chalicelib.integrity.domain.Finding` s. Every finding is filed as a backend incident (area
``backend.integrity.<check>``, grouped per kind) whose context carries the repair; ``apply`` carries the
repairs out in batches, each batch audited (``integrity.repair``). Dry-run by default. Repairs are
conditional or naturally idempotent: a second apply finds nothing and changes nothing. Sweeps run from
``academy doctor`` and the scheduled ``integrity_sweep`` function, never inside an API request.

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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core import audit
from chalicelib.core.db import utcnow
from chalicelib.core.errors import DomainError
from chalicelib.integrity import domain, store
from chalicelib.integrity.domain import ACTOR, Check, CheckReport, Finding, NotRepairable, Repair, ScanPage

if TYPE_CHECKING:
    from chalicelib.operations.service import Outcome

__all__ = ["CHECKS", "Check", "CheckReport", "Finding", "NotRepairable", "ScanPage", "repair_incident", "run_check"]


@dataclass(frozen=True)
class Tunables:
    """The sweep's seams: rows per check per run (the scheduled sweep's), pages per run, and its clock."""

    budget: int = domain.DEFAULT_BUDGET
    max_calls_per_run: int = domain.MAX_CALLS_PER_RUN
    clock: Callable[[], datetime] = utcnow


TUNABLES = Tunables()  # what the sweeps use unless told; tests swap it (dataclasses.replace)


# --- the job checks: their repairs are the Jobs page's own retry and cancel -----------------------


def _scan_stuck(cursor: str | None, budget: int, now: datetime) -> ScanPage:
    from chalicelib.jobs import states
    from chalicelib.operations import domain as ops
    from chalicelib.operations import service as operations

    jobs, nxt = operations.list_jobs(min(budget, 100), cursor, ops.STUCK, None)
    found = []
    for j in jobs:
        repair = {"action": "retry_job", "job_id": j.job_id} if j.state == states.QUEUED else None  # a lost message: re-send
        detail = {"state": j.state, "type": j.type, "updated_at": j.to_dict().get("updated_at")}
        found.append(Finding("stuck_jobs", f"stuck_{j.state}_job", {"type": "job", "id": j.job_id}, detail, repair))
    return ScanPage(found, len(jobs), nxt)


def _job_action(action: str, job_id: str, status: int, run: Callable[[str], Outcome]) -> bool:
    """Retry or cancel a job as the sweep (audited like the admin's action). False: no longer needed
    (picked up, retried or cancelled meanwhile)."""
    target, params = f"job:{job_id}", {"job_id": job_id}
    try:
        outcome = run(job_id)
    except DomainError as err:
        audit.record(ACTOR, action, target, params, {"status": err.status, "code": err.code})
        return False
    except Exception as exc:
        audit.record(ACTOR, action, target, params, {"status": 500, "error": type(exc).__name__})
        raise
    audit.record(ACTOR, action, target, params, {"status": status, **outcome.audit})
    return True


def _retry_job(r: Repair, now: datetime) -> bool:
    from chalicelib.operations import service as operations

    return _job_action("job.retry", r["job_id"], 202, operations.retry_job)


def _cancel_job(r: Repair, now: datetime) -> bool:
    from chalicelib.operations import service as operations

    return _job_action("job.cancel", r["job_id"], 200, operations.cancel_job)


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check("video_variants", "variant_count equals the recorded variants; each variant's object exists with its size",
              store.scan_videos, {"set_variant_count": store.set_variant_count, "drop_variant": store.drop_variant}),
        Check("attendance_orphans", "no attendance for a missing or deleted schedule", store.scan_attendance,
              {"delete_attendance": store.delete_attendance}),
        Check("future_instances", "no instance of a recurring task dated after its local today", store.scan_future,
              {"delete_future_instance": store.delete_future_instance}),
        Check("homework_objects", "uploaded homework points at an existing object of its size", store.scan_homework, {}),
        Check("orphan_objects", "no object under the upload prefixes that no row references, past its form's lifetime",
              store.scan_objects, {"delete_object": store.delete_object}),
        Check("abandoned_uploads", "no multipart upload older than its lifetime", store.scan_multipart,
              {"abort_upload": store.abort_upload}),
        Check("orphan_jobs", "no queued, running or failed job whose video or schedule is gone", store.scan_jobs,
              {"cancel_job": _cancel_job}),
        Check("stuck_jobs", "no stuck job (running with a stale heartbeat, or queued with its message lost)", _scan_stuck,
              {"retry_job": _retry_job}),
    )
}  # fmt: skip


def repair(f: Finding, now: datetime | None = None) -> bool:
    if f.repair is None:
        return False
    return CHECKS[f.check].repairs[f.repair["action"]](f.repair, now or TUNABLES.clock())


def repair_incident(incident_id: str, refuse: Callable[[Repair], str | None] | None = None) -> dict[str, Any]:
    """The console's button: carry out the repair an integrity incident carries (idempotent; the route audits it).

    Only incidents the server filed itself are accepted, and every repair re-checks its defect before writing.
    ``refuse(repair)``: why this caller may not carry that repair out (NotRepairable), or None.
    KeyError: no such incident.
    """
    found = store.incident(incident_id)
    if found is None:
        raise KeyError(incident_id)
    check, fix = domain.repair_of(*found, CHECKS)
    if refuse is not None and (reason := refuse(fix)):
        raise NotRepairable(reason)
    changed = CHECKS[check].repairs[fix["action"]](fix, TUNABLES.clock())
    return {"incident_id": incident_id, "check": check, "repair": fix, "changed": changed}


def run_check(
    name: str,
    *,
    apply: bool = False,
    budget: int | None = None,
    page_size: int = 200,
    cursor: str | None = None,
    file_incidents: bool = True,
    on_page: Callable[[CheckReport, ScanPage], None] | None = None,
    actor: dict[str, Any] | None = None,
    tunables: Tunables | None = None,
) -> CheckReport:
    """Read ≤ ``budget`` rows of one check, page by page from ``cursor``; file and (if ``apply``) repair."""
    tun = tunables or TUNABLES
    budget = tun.budget if budget is None else budget
    check = CHECKS[name]
    report = CheckReport(name, cursor=cursor)
    calls = 0
    while report.read < budget:
        now = tun.clock()
        scanned = check.scan(report.cursor, min(page_size, budget - report.read), now)
        report.read += scanned.read
        report.cursor = scanned.cursor
        report.findings += scanned.findings
        for f in scanned.findings:
            if file_incidents:
                store.file_incident(f)
        if apply and scanned.findings:
            changed = [f.repair for f in scanned.findings if repair(f, tun.clock())]
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
        if scanned.cursor is None or calls >= tun.max_calls_per_run:  # (a filtered page may read nothing yet go on)
            break
    return report


def iter_checks(names: list[str] | None) -> Iterator[str]:
    for name in names or list(CHECKS):
        if name not in CHECKS:
            raise KeyError(name)
        yield name
