"""Metrics rules (pure): the bucket range of a request, percentiles from fixed histograms, series.

A request names ``from``/``to`` (default: the last 24 h) and a ``step`` (default: minute when the range
is at most 24 h, else hour). The buckets are those whose start lies in ``[floor(from), to)``, in UTC;
at most :data:`MAX_BUCKETS`, and only within what the step keeps (minute: 24 h, hour: 90 days).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MINUTE, HOUR = "m", "h"
STEP_NAMES = {"minute": MINUTE, "hour": HOUR}
STEP_S = {MINUTE: 60, HOUR: 3600}
KEEP_S = {MINUTE: 24 * 3600, HOUR: 90 * 24 * 3600}
MAX_BUCKETS = 1500
DEFAULT_RANGE = timedelta(hours=24)
JOB_COUNTERS = ("enqueued", "started", "succeeded", "failed", "retried")


class RangeError(ValueError):
    """A range the API refuses (400): ``field`` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Plan:
    step: str  # MINUTE | HOUR
    first: datetime  # the first bucket's start
    count: int  # buckets

    @property
    def step_name(self) -> str:
        return "minute" if self.step == MINUTE else "hour"

    @property
    def end(self) -> datetime:
        return self.first + timedelta(seconds=STEP_S[self.step] * self.count)

    def starts(self) -> list[datetime]:
        width = timedelta(seconds=STEP_S[self.step])
        return [self.first + n * width for n in range(self.count)]


def floor(at: datetime, step: str) -> datetime:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    at = at.replace(second=0, microsecond=0)
    return at.replace(minute=0) if step == HOUR else at


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan(start: datetime | None, end: datetime | None, step_name: str | None, now: datetime) -> Plan:
    """The buckets of a request (raises :class:`RangeError`)."""
    end = (end or now).astimezone(UTC)
    try:
        start = (start or end - DEFAULT_RANGE).astimezone(UTC)
    except OverflowError as exc:  # 'to' in year 1: nothing was kept then
        raise RangeError("to", "'to' is before anything the rollups keep") from exc
    if start >= end:
        raise RangeError("from", "'from' must be before 'to'")
    if end > now + DEFAULT_RANGE:
        raise RangeError("to", "'to' is more than a day ahead: nothing is counted there yet")
    step = STEP_NAMES[step_name] if step_name else (MINUTE if end - start <= DEFAULT_RANGE else HOUR)
    first = floor(start, step)
    width = STEP_S[step]
    count = math.ceil((end - first).total_seconds() / width)  # the bucket holding ``to`` too, unless ``to`` starts it
    if count > MAX_BUCKETS:
        raise RangeError("step", f"{count} buckets asked for; at most {MAX_BUCKETS} (use step=hour or a shorter range)")
    oldest = floor(now, step) - timedelta(seconds=KEEP_S[step])
    if first < oldest:
        kept = "24 hours" if step == MINUTE else "90 days"
        hint = " (use step=hour)" if step == MINUTE else ""
        raise RangeError("from", f"{step_name or ('minute' if step == MINUTE else 'hour')} buckets are kept {kept}{hint}")
    return Plan(step, first, max(count, 1))


# --- histograms --------------------------------------------------------------------------------------


def percentile(counts: Sequence[int], edges: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram whose bucket ``i`` holds ``(edges[i-1], edges[i]]``
    (the first from 0, the last above the last edge), interpolated linearly inside its bucket: within
    one bucket's width of the true value. The open last bucket answers its lower edge. None: empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, n in enumerate(counts):
        if n <= 0:
            continue
        if seen + n >= rank:
            low = 0.0 if i == 0 else float(edges[i - 1])
            if i >= len(edges):
                return low
            high = float(edges[i])
            return round(low + (high - low) * max(0.0, rank - seen) / n, 3)
        seen += n
    return float(edges[-1])  # pragma: no cover - rank ≤ total always lands above


def hist(item: Mapping[str, float], name: str, size: int) -> list[int]:
    """The histogram ``name`` of one bucket item (``name:NN`` attributes)."""
    return [int(item.get(f"{name}:{i:02d}", 0)) for i in range(size)]


def summary(counts: Sequence[int], edges: Sequence[float]) -> dict[str, float | int | None]:
    return {"p50": percentile(counts, edges, 0.5), "p95": percentile(counts, edges, 0.95), "count": sum(counts)}


# --- series ------------------------------------------------------------------------------------------


def sum_items(items: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Shards (and an hour's items) added up, attribute by attribute."""
    out: dict[str, float] = {}
    for item in items:
        for name, value in item.items():
            out[name] = out.get(name, 0) + value
    return out


def job_bucket(t: datetime, item: Mapping[str, float], edges: Sequence[float]) -> dict[str, object]:
    size = len(edges) + 1
    out: dict[str, object] = {"t": stamp(t)}
    out.update({name: int(item.get(name, 0)) for name in JOB_COUNTERS})
    out["run_ms"] = summary(hist(item, "run", size), edges)
    out["wait_ms"] = summary(hist(item, "wait", size), edges)
    return out
