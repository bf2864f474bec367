"""Metrics use cases: trends per job type, per incident group and area, and media with its cost.

Each reads one rollup series over the requested buckets (O(buckets) items, never a ledger row) and
fills every bucket of the range, zeros where nothing happened.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import rollups
from chalicelib.core.db import utcnow
from chalicelib.core.errors import Invalid
from chalicelib.metrics import domain, prices, store
from chalicelib.metrics.domain import Plan

MEDIA_JOB_TYPE = "process_video_proof"
INCIDENT_KIND = "inc"
JOB_KIND = "job"


def plan(start: datetime | None, end: datetime | None, step: str | None, now: datetime | None = None) -> Plan:
    """The buckets of a request; ``Invalid`` (400 naming the parameter) for a range the API refuses."""
    try:
        return domain.plan(start, end, step, now or utcnow())
    except domain.RangeError as exc:
        raise Invalid(str(exc), code="invalid_range", details={"fields": {exc.field: str(exc)}}) from exc


def _rows(kind: str, p: Plan) -> list[store.Row]:
    last = p.first + timedelta(seconds=domain.STEP_S[p.step] * (p.count - 1))
    return store.read(kind, p.step, p.first, last)


def _head(p: Plan) -> dict[str, Any]:
    return {"step": p.step_name, "from": domain.stamp(p.first), "to": domain.stamp(p.end)}


# --- jobs ----------------------------------------------------------------------------------------------


def jobs(p: Plan, job_type: str | None = None) -> dict[str, Any]:
    """One series per job type seen in the range (or just ``job_type``), every bucket present."""
    per_type: dict[str, dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for row in _rows(JOB_KIND, p):
        kind = row.parts[0] if row.parts else "unknown"
        if job_type is None or kind == job_type:
            per_type[kind][row.t].append(row.values)
    if job_type is not None and job_type not in per_type:
        per_type[job_type] = defaultdict(list)
    starts = p.starts()
    series = []
    for name in sorted(per_type):
        by_t = per_type[name]
        buckets = [domain.job_bucket(t, domain.sum_items(by_t.get(domain.stamp(t), [])), rollups.EDGES_MS) for t in starts]
        series.append({"type": name, "buckets": buckets})
    return {**_head(p), "series": series}


# --- incidents -------------------------------------------------------------------------------------------


def incident_fields(group_id: str, area: str, stored: bool) -> dict[str, float]:
    """What one intake counts: one attribute naming its group and its area (per area and the total are
    their sums, so a bucket item grows with the groups active in it, not with the incidents)."""
    what = "stored" if stored else "suppressed"
    return {f"g|{what}|{group_id}|{area}": 1}


def count_incident(group_id: str, area: str, stored: bool, at: datetime) -> None:
    """Buffered: written with the invocation's other counts when it ends (no call on the intake's path)."""
    rollups.count(INCIDENT_KIND, at, (), incident_fields(group_id, area, stored))


def incidents(p: Plan, group_id: str | None = None, area: str | None = None) -> dict[str, Any]:
    """Per group active in the range (filtered by ``group_id``/``area``) and the total, every bucket present."""
    groups: dict[tuple[str | None, str], dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: {"stored": 0, "suppressed": 0})
    )
    total: dict[str, dict[str, int]] = defaultdict(lambda: {"stored": 0, "suppressed": 0})
    for row in _rows(INCIDENT_KIND, p):
        for name, value in row.values.items():
            scope, _, rest = name.partition("|")
            what, _, rest = rest.partition("|")
            if what not in ("stored", "suppressed"):
                continue
            n = int(value)
            if scope == "g":
                gid, _, garea = rest.partition("|")
                if (group_id is None or gid == group_id) and (area is None or garea == area):
                    groups[(gid, garea)][row.t][what] += n
                    total[row.t][what] += n
    starts = p.starts()

    def buckets(by_t: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
        return [{"t": domain.stamp(t), **by_t.get(domain.stamp(t), {"stored": 0, "suppressed": 0})} for t in starts]

    series = [
        {"group_id": gid, "area": garea, "buckets": buckets(by_t)}
        for (gid, garea), by_t in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]
    if not series and (group_id is not None or area is not None):
        series = [{"group_id": group_id, "area": area or "", "buckets": buckets({})}]
    return {**_head(p), "series": series, "total": buckets(total)}


# --- media ---------------------------------------------------------------------------------------------


PEAK = "peak_memory_mb"


def media_rollup(
    *, bytes_in: float, bytes_out: float, video_seconds: float, worker_seconds: float, memory_mb: float
) -> dict[str, float]:
    """The sums a media job's result carries to its rollup (:data:`chalicelib.jobs.rollups.RESULT_KEY`):
    counted once, by the transition that records the success. ``gb_seconds``: what Lambda bills for the
    run (configured memory x duration)."""
    return {
        "bytes_in": float(bytes_in),
        "bytes_out": float(bytes_out),
        "video_seconds": round(float(video_seconds), 3),
        "worker_seconds": round(float(worker_seconds), 3),
        "gb_seconds": round(float(memory_mb) / 1024 * float(worker_seconds), 3),
    }


def record_peak(at: datetime, job_id: str, peak_mb: float) -> None:
    """The worker's peak memory, as the bucket's maximum (idempotent: a redelivery changes nothing)."""
    from chalicelib.jobs import rollups as job_rollups

    rollups.raise_max(JOB_KIND, at, job_rollups.parts(job_id, MEDIA_JOB_TYPE), f"x:{PEAK}", peak_mb)


def media(p: Plan, now: datetime | None = None) -> dict[str, Any]:
    """Media processed per bucket (the media job's rollups) and what it costs per day at list prices."""
    by_t: dict[str, list[dict[str, float]]] = defaultdict(list)
    for row in _rows(JOB_KIND, p):
        if row.parts and row.parts[0] == MEDIA_JOB_TYPE:
            by_t[row.t].append(row.values)
    buckets = []
    for t in p.starts():
        items = by_t.get(domain.stamp(t), [])
        summed = domain.sum_items(items)
        peaks = [v[f"x:{PEAK}"] for v in items if f"x:{PEAK}" in v]
        buckets.append(
            {
                "t": domain.stamp(t),
                "jobs": int(summed.get("succeeded", 0)),
                "bytes_in": int(summed.get("x:bytes_in", 0)),
                "bytes_out": int(summed.get("x:bytes_out", 0)),
                "video_seconds": round(float(summed.get("x:video_seconds", 0)), 3),
                "worker_seconds": round(float(summed.get("x:worker_seconds", 0)), 3),
                "gb_seconds": round(float(summed.get("x:gb_seconds", 0)), 3),
                PEAK: max(peaks) if peaks else None,
            }
        )
    return {**_head(p), "buckets": buckets, "cost": prices.media_cost(buckets)}


# --- scheduler -----------------------------------------------------------------------------------------

SCHEDULER_KIND = "sched"
SCHEDULER_FIELDS = ("runs", "created", "skipped")


def count_scheduler_run(function: str, stats: dict[str, Any], at: datetime | None = None, *, run: bool = True) -> None:
    """One run of a scheduled function and the instances it created (buffered; written as the run ends).
    ``run=False``: instances created on the function's behalf by a job it fanned out to (no run counted)."""
    fields = {"runs": 1 if run else 0, "created": int(stats.get("created", 0)), "skipped": int(stats.get("skipped", 0))}
    rollups.count(SCHEDULER_KIND, at or utcnow(), (function,), fields)


def scheduler(p: Plan) -> dict[str, Any]:
    """Runs and instances created per bucket, one series per scheduled function seen in the range."""
    per_fn: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for row in _rows(SCHEDULER_KIND, p):
        if row.parts:
            per_fn[row.parts[0]][row.t] = row.values
    series = []
    for name in sorted(per_fn):
        by_t = per_fn[name]
        buckets = [
            {"t": domain.stamp(t), **{f: int(by_t.get(domain.stamp(t), {}).get(f, 0)) for f in SCHEDULER_FIELDS}}
            for t in p.starts()
        ]
        series.append({"function": name, "buckets": buckets})
    return {**_head(p), "series": series}


# --- capacity ------------------------------------------------------------------------------------------


def capacity(p: Plan) -> dict[str, Any]:
    """DynamoDB read and write units per API request, by route, over the range (and their list price)."""
    per_route: dict[str, dict[str, float]] = defaultdict(lambda: {"requests": 0.0, "read_units": 0.0, "write_units": 0.0})
    for row in _rows(rollups.CAPACITY_KIND, p):
        if row.parts:
            acc = per_route[row.parts[0]]
            for name in acc:
                acc[name] += float(row.values.get(name, 0))
    routes = []
    for name, acc in sorted(per_route.items(), key=lambda kv: -(kv[1]["read_units"] + kv[1]["write_units"])):
        n = acc["requests"] or 1
        routes.append(
            {
                "route": name,
                "requests": int(acc["requests"]),
                "read_units": round(acc["read_units"], 3),
                "write_units": round(acc["write_units"], 3),
                "read_units_per_request": round(acc["read_units"] / n, 3),
                "write_units_per_request": round(acc["write_units"] / n, 3),
                "usd_per_million_requests": round(prices.dynamodb_usd(acc["read_units"] / n, acc["write_units"] / n) * 1e6, 4),
            }
        )
    return {
        **_head(p),
        "prices_as_of": prices.PRICES_AS_OF,
        "usd_per_million_read_units": prices.DYNAMODB_USD_PER_MILLION_RRU,
        "usd_per_million_write_units": prices.DYNAMODB_USD_PER_MILLION_WRU,
        "routes": routes,
    }
