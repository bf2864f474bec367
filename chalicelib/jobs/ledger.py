"""The job ledger: one DynamoDB record per asynchronous job, the truth the Jobs page shows.

Every state change is a conditional update, so concurrent workers, duplicate deliveries and
double-clicking admins cannot run a job twice or resurrect a finished one. A run is identified
by ``run_id``: only the run that started a job can finish it (a stale worker that lost the job to
a takeover cannot overwrite the newer run's outcome).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import JSONAttribute, ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib.core.db import UTCDateTime, gsi, iso, meta, new_id, query_page, transition, utcnow
from chalicelib.core.errors import Missing
from chalicelib.jobs import counts, rollups, states
from chalicelib.jobs.registry import get as get_job_type


class JobError(MapAttribute[str, Any]):
    type = UnicodeAttribute()
    message = UnicodeAttribute()
    at = UTCDateTime()
    attempt = NumberAttribute(default=0)

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)  # type: ignore[no-untyped-call]  # pynamodb's MapAttribute.__init__ is untyped


class Job(Model):
    Meta = meta("jobs")
    job_id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    state = UnicodeAttribute()
    queue = UnicodeAttribute()
    payload = JSONAttribute(default=dict)
    entity_type = UnicodeAttribute(null=True)
    entity_id = UnicodeAttribute(null=True)
    entity_key = UnicodeAttribute(null=True)  # "type:id", for the by_entity index
    dedupe_key = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    run_id = UnicodeAttribute(null=True)
    dispatch_id = UnicodeAttribute(null=True)  # new on every (re)dispatch; messages carry it
    last_error = JobError(null=True)
    errors = ListAttribute(of=JobError, default=list)
    result = JSONAttribute(null=True)
    timeout_s = NumberAttribute(default=300)
    created_at = UTCDateTime()
    updated_at = UTCDateTime()
    started_at = UTCDateTime(null=True)
    finished_at = UTCDateTime(null=True)
    heartbeat_at = UTCDateTime(null=True)
    by_state = gsi("by_state", "state", "job_id")
    by_type = gsi("by_type", "type", "job_id")
    by_entity = gsi("by_entity", "entity_key", "job_id")

    def stuck(self, now: datetime | None = None) -> bool:
        return states.is_stuck(self.state, self.heartbeat_at, int(self.timeout_s), now or utcnow(), self.updated_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "type": self.type,
            "state": self.state,
            "attempts": int(self.attempts or 0),
            "last_error": _error_dict(self.last_error),
            "entity": {"type": self.entity_type, "id": self.entity_id} if self.entity_type else None,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "stuck": self.stuck(),
            "queue": self.queue,
        }

    def to_detail(self) -> dict[str, Any]:
        return {
            **self.to_dict(),
            "payload": self.payload,
            "result": self.result,
            "errors": [_error_dict(e) for e in (self.errors or [])],
            "dedupe_key": self.dedupe_key,
            "timeout_s": int(self.timeout_s),
        }


class JobDedupe(Model):
    """``dedupe_key → job_id``: written in the same transaction as the job, so a key maps to one job."""

    Meta = meta("job-dedupe")
    dedupe_key = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute()
    created_at = UTCDateTime()


def _error_dict(e: JobError | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"type": e.type, "message": e.message, "at": iso(e.at), "attempt": int(e.attempt or 0)}


def _err(exc_type: str, message: str, attempt: int) -> JobError:
    return JobError(type=exc_type, message=message[:2000], at=utcnow(), attempt=attempt)


# --- reads -------------------------------------------------------------------------------------


def get(job_id: str) -> Job:
    try:
        return Job.get(job_id, consistent_read=True)
    except DoesNotExist as exc:
        raise Missing(f"Job {job_id} does not exist.", code="job_not_found", details={"job_id": job_id}) from exc


def find(job_id: str) -> Job | None:
    try:
        return Job.get(job_id, consistent_read=True)
    except DoesNotExist:
        return None


def list_jobs(
    limit: int, next_token: str | None, state: str | None = None, job_type: str | None = None
) -> tuple[list[Job], str | None]:
    """Newest first, by index query: per state (optionally filtered by type), or per type."""
    if state:
        filt = Job.type == job_type if job_type else None
        return query_page(Job.by_state.query, state, limit=limit, next_token=next_token, filter_condition=filt, newest_first=True)
    if job_type:
        return query_page(Job.by_type.query, job_type, limit=limit, next_token=next_token, newest_first=True)
    raise ValueError("list_jobs needs a state or a type")


def latest_for_entity(entity_type: str, entity_id: str) -> Job | None:
    job: Job
    for job in Job.by_entity.query(f"{entity_type}:{entity_id}", scan_index_forward=False, limit=1):
        return job
    return None


# --- writes: each state change one conditional update and its counter moves, in one transaction ---

MOVE_ATTEMPTS = 5  # re-reads when the job's state changed between our read and our write


def _move(
    job_id: str,
    actions: list[Any],
    condition: Condition,
    to_state: str,
    seen: Job | None = None,
    *,
    at: datetime | None = None,
    result: Any = None,
) -> bool:
    """``condition`` → ``to_state`` (plus ``actions``), with the counters of the job's shard moved and its
    type's rollups (at ``at``) added in the same transaction. The write's condition adds the state we
    read, so the counter decremented is the one the job really left; if the state changed under us, we
    read again and retry. False: refused by ``condition`` (nothing written, nothing counted)."""
    job = seen
    for _ in range(MOVE_ATTEMPTS):
        if job is None:
            job = find(job_id)
            if job is None:
                return False
        full = Job.job_id.exists() & condition & (Job.state == job.state)
        if job.state == to_state:  # e.g. a takeover (running → running): no count changes
            ok = transition(Job(job_id=job_id), actions, full)
        else:
            extra = rollups.items(job_id, job.type, job.state, to_state, at=at or utcnow(), job=job, result=result)
            ok = counts.transact(Job(job_id=job_id), actions, full, job.type, job.state, to_state, extra)
        if ok:
            return True
        current = find(job_id)
        if current is None or current.state == job.state:
            return False  # ``condition`` itself refused it
        job = current
    return False


def _this_run(run_id: str) -> Condition:
    """The condition of a run's own writes: the job is still running, and still this run's."""
    cond: Condition = (Job.run_id == run_id) & (Job.state == states.RUNNING)
    return cond


def new_job(job_type: str, queue: str, payload: dict[str, Any], entity: dict[str, str] | None, dedupe_key: str | None) -> Job:
    jt = get_job_type(job_type)
    now = utcnow()
    job = Job(
        job_id=new_id(),
        dispatch_id=new_id(),
        type=job_type,
        state=states.QUEUED,
        queue=queue,
        payload=payload,
        dedupe_key=dedupe_key,
        attempts=0,
        timeout_s=jt.timeout_s if jt else 300,
        created_at=now,
        updated_at=now,
    )
    if entity:
        job.entity_type, job.entity_id = entity["type"], entity["id"]
        job.entity_key = f"{entity['type']}:{entity['id']}"
    return job


def start_run(job_id: str, stale_after_s: int, seen: Job | None = None) -> tuple[Job, str] | None:
    """queued → running (or take over a running job whose heartbeat is stale). None: not ours to run."""
    run_id = new_id()
    now = utcnow()
    stale = now - timedelta(seconds=stale_after_s)
    cond = (Job.state == states.QUEUED) | ((Job.state == states.RUNNING) & (Job.heartbeat_at < stale))
    actions = [
        Job.state.set(states.RUNNING),
        Job.run_id.set(run_id),
        Job.attempts.add(1),
        Job.started_at.set(now),
        Job.heartbeat_at.set(now),
        Job.updated_at.set(now),
    ]
    if not _move(job_id, actions, cond, states.RUNNING, seen, at=now):
        return None
    return get(job_id), run_id


def heartbeat(job_id: str, run_id: str) -> bool:
    now = utcnow()
    return transition(Job(job_id=job_id), [Job.heartbeat_at.set(now), Job.updated_at.set(now)], _this_run(run_id))


def finish(job_id: str, run_id: str, result: Any) -> bool:
    now = utcnow()
    actions = [Job.state.set(states.SUCCEEDED), Job.result.set(result), Job.finished_at.set(now), Job.updated_at.set(now)]
    return _move(job_id, actions, _this_run(run_id), states.SUCCEEDED, at=now, result=result)


def record_failure(job_id: str, run_id: str | None, exc_type: str, message: str, *, final: bool) -> bool:
    """A run failed: ``final`` → failed for good; otherwise back to queued for SQS to redeliver."""
    job = find(job_id)
    if job is None:
        return False
    err = _err(exc_type, message, int(job.attempts or 0))
    now = utcnow()
    history = [*(job.errors or []), err][-states.MAX_ERROR_HISTORY :]
    actions = [
        Job.state.set(states.FAILED if final else states.QUEUED),
        Job.last_error.set(err),
        Job.errors.set(history),
        Job.updated_at.set(now),
    ]
    if final:
        actions.append(Job.finished_at.set(now))
    if run_id is not None:
        cond = _this_run(run_id)
    else:  # the dead-letter path: any non-terminal job becomes failed
        cond = Job.state.is_in(states.QUEUED, states.RUNNING)
    moved = _move(job_id, actions, cond, states.FAILED if final else states.QUEUED, job, at=now)
    if moved and final:  # once per job: the transition's condition held for this call only
        from chalicelib.jobs import health

        health.failed(job.type, job_id, exc_type)
    return moved


def requeue(job_id: str, allowed_from: tuple[str, ...], queued_before: datetime | None = None) -> Job | None:
    """failed/cancelled → queued with a new run ahead (retry). None if the job was not in ``allowed_from``.

    With ``queued_before``, a job queued and untouched since then (its message lost) is re-dispatched too.
    """
    now = utcnow()
    cond = Job.state.is_in(*allowed_from)
    if queued_before is not None:
        cond = cond | ((Job.state == states.QUEUED) & (Job.updated_at < queued_before))
    actions = [
        Job.state.set(states.QUEUED),
        Job.dispatch_id.set(new_id()),
        Job.run_id.remove(),
        Job.finished_at.remove(),
        Job.updated_at.set(now),
    ]
    if not _move(job_id, actions, cond, states.QUEUED, at=now):
        return None
    return get(job_id)


def cancel(job_id: str, stale_before: datetime | None = None) -> Job | None:
    """queued/failed (or running with a stale heartbeat) → cancelled. None if not cancellable now."""
    now = utcnow()
    cond = Job.state.is_in(states.QUEUED, states.FAILED)
    if stale_before is not None:
        cond = cond | ((Job.state == states.RUNNING) & (Job.heartbeat_at < stale_before))
    actions = [Job.state.set(states.CANCELLED), Job.finished_at.set(now), Job.updated_at.set(now)]
    if not _move(job_id, actions, cond, states.CANCELLED, at=now):
        return None
    return get(job_id)


def orphan_key(raw_body: str) -> str:
    """The dedupe key of an unreadable message: its body's hash (redeliveries and redrives keep the
    body; SQS message ids change on a redrive), so one message is one orphan however often it comes."""
    import hashlib

    return "orphan:" + hashlib.sha256(raw_body.encode("utf-8", "surrogatepass")).hexdigest()


def put_orphan(raw_body: str, reason: str) -> Job:
    """A message that names no job we know: recorded as a failed job so nothing vanishes.

    Idempotent: the job and its body-hash claim are written in one transaction, so a redelivery (or the
    same body arriving at the dead-letter handler) finds the first orphan instead of adding another.
    Two producers sending byte-identical unreadable bodies share one orphan too.
    """
    from pynamodb.exceptions import TransactWriteError

    from chalicelib.core.db import transaction

    key = orphan_key(raw_body)
    existing = _claimed_job(key)
    if existing is not None:
        return existing
    now = utcnow()
    job = Job(
        job_id=new_id(),
        type="unknown",
        state=states.FAILED,
        queue="unknown",
        payload={"raw_body": raw_body[:10_000]},
        dedupe_key=key,
        attempts=1,
        created_at=now,
        updated_at=now,
        finished_at=now,
    )
    job.last_error = _err("UnreadableMessage", reason, 1)
    job.errors = [job.last_error]
    claim = JobDedupe(dedupe_key=key, job_id=job.job_id, created_at=now)
    try:
        with transaction() as tx:
            tx.save(claim, condition=JobDedupe.dedupe_key.does_not_exist())
            tx.save(job, condition=Job.job_id.does_not_exist())
            row, adds = counts.moves(job.job_id, job.type, None, states.FAILED)
            tx.update(row, actions=adds)
            for item, item_actions in rollups.items(job.job_id, job.type, None, states.FAILED, at=now):
                tx.update(item, actions=item_actions)
    except TransactWriteError:
        existing = _claimed_job(key)  # a concurrent delivery of the same body won the claim
        if existing is None:
            raise
        return existing
    return job


def _claimed_job(dedupe_key: str) -> Job | None:
    try:
        claim = JobDedupe.get(dedupe_key, consistent_read=True)
    except JobDedupe.DoesNotExist:
        return None
    return find(claim.job_id)
