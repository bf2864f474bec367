"""Job rollups: what one ledger transition adds to its type's minute and hour buckets.

They ride in the transition's own TransactWriteItems (:func:`chalicelib.jobs.counts.transact`), so a
transition whose condition fails counts nothing: a redelivered success, a losing racer or a
double-clicked retry is counted once. The items are sharded like the counter rows (the job id's
shard): a transaction that holds a rollup item holds that shard's counter row too, so rollups add
no transaction conflict the counters did not already have.

Fields: ``enqueued`` (a new job), ``started``, ``succeeded``, ``failed``, ``retried`` (back to queued:
a transient failure or an admin's retry), ``run:NN`` (the run-time histogram: at every end of a run,
end - start) and ``wait:NN`` (at start: start - the moment it was queued). A job's result may add
sums of its own under ``x:<name>`` (:data:`RESULT_KEY`: the media job's bytes and seconds).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.core import rollups
from chalicelib.jobs import counts, states

KIND = "job"
RESULT_KEY = "rollup"  # a job result's {"rollup": {"bytes_in": n, …}}: summed as x:bytes_in


def _ms(end: datetime, start: datetime | None) -> float | None:
    return None if start is None else (end - start).total_seconds() * 1000


def fields(old: str | None, new: str | None, *, at: datetime, job: Any = None, result: Any = None) -> dict[str, float]:
    """The counters one transition ``old`` → ``new`` adds (``job``: the entry as read before it)."""
    out: dict[str, float] = {}
    if old is None and new == states.QUEUED:
        out["enqueued"] = 1
    if new == states.RUNNING and old != states.RUNNING:
        out["started"] = 1
        wait = _ms(at, getattr(job, "updated_at", None))  # set by the move into queued
        if wait is not None:
            out[rollups.hist_attr("wait", rollups.hist_index(wait))] = 1
    if new == states.SUCCEEDED:
        out["succeeded"] = 1
    if new == states.FAILED:
        out["failed"] = 1
    if new == states.QUEUED and old is not None:
        out["retried"] = 1
    if old == states.RUNNING and new != states.RUNNING:
        run = _ms(at, getattr(job, "started_at", None))
        if run is not None:
            out[rollups.hist_attr("run", rollups.hist_index(run))] = 1
    if new == states.SUCCEEDED and isinstance(result, dict) and isinstance(result.get(RESULT_KEY), dict):
        for name, value in result[RESULT_KEY].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                out[f"x:{name}"] = float(value)
    return out


def parts(job_id: str, job_type: str) -> tuple[str, str]:
    return (job_type, f"{counts.shard_of(job_id)}")


def items(
    job_id: str, job_type: str, old: str | None, new: str | None, *, at: datetime, job: Any = None, result: Any = None
) -> list[tuple[Any, list[Any]]]:
    """The rollup items (minute and hour) and their actions of one transition; none if it counts nothing."""
    adds = fields(old, new, at=at, job=job, result=result)
    if not adds:
        return []
    return list(rollups.updates(KIND, at, parts(job_id, job_type), adds))
