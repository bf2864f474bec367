"""Job counts per (state, type), kept exact by the ledger's own transitions: O(1) to read.

Counter rows live in the jobs table itself, under keys that are never job ids (``~count~00`` …
``~count~07``): they carry no ``state``/``type``/``entity_key``, so no index sees them, and every
function that moves a job already holds ``UpdateItem`` on the table (no new grant; TransactWriteItems
authorises each of its items as the item's own action). Each row holds one number attribute per
(state, type), named ``n:<state>:<type>``.

Every ledger transition is one TransactWriteItems: the job's conditional update (its condition
includes the state the caller read) and, on the job's shard row, ``ADD`` -1 on the old state's counter
and +1 on the new one's. A transition whose condition fails writes nothing, so duplicate deliveries,
losing racers and retries never move a counter. The shard is fixed by the job id's hash: a row takes
1/``SHARDS`` of the transitions. Why shard: DynamoDB refuses a transaction that touches an item
another in-flight transaction holds (TransactionConflict), and one item takes ≤ 1,000 WCU/s (a
transactional write costs 2): one counter row would serialise every worker. With 8 rows, conflicts are
8x rarer (and retried here: a cancelled transaction wrote nothing), and the summary still reads 8
items in one BatchGetItem.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.operand import Path
from pynamodb.models import Model

from chalicelib.core.db import meta, transaction

SHARDS = 8
PREFIX = "~count~"
CONFLICT_RETRIES = 8
Counts = dict[tuple[str, str], int]  # (state, type) -> count


class CounterRow(Model):
    """A counter shard row of the jobs table (its numbers are dynamic attributes: see :func:`attr`)."""

    Meta = meta("jobs")
    job_id = UnicodeAttribute(hash_key=True)


def shard_of(job_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=2).digest(), "big") % SHARDS


def shard_key(shard: int) -> str:
    return f"{PREFIX}{shard:02d}"


def shard_keys() -> list[str]:
    return [shard_key(n) for n in range(SHARDS)]


def attr(state: str, job_type: str) -> str:
    return f"n:{state}:{job_type}"


def parse_attr(name: str) -> tuple[str, str] | None:
    if not name.startswith("n:"):
        return None
    state, _, job_type = name[2:].partition(":")
    return (state, job_type) if job_type else None


def _path(state: str, job_type: str) -> Path:
    return Path([attr(state, job_type)])  # a list: the name is one attribute, not a dotted document path


OUTCOMES = ("succeeded", "failed")  # states.SUCCEEDED, states.FAILED: their entries are also totalled (never down)


def total_attr(state: str, job_type: str) -> str:
    """The monotonic total of entries into ``state`` (an outcome): ``t:<state>:<type>``, never decremented,
    so two readings a window apart give the window's outcomes (the job-health failure rate)."""
    return f"t:{state}:{job_type}"


def moves(job_id: str, job_type: str, old_state: str | None, new_state: str | None) -> tuple[CounterRow, list[Any]]:
    """The counter row and ADD actions of one transition (``None``: the job appears or disappears)."""
    actions = []
    if old_state is not None:
        actions.append(_path(old_state, job_type).add(-1))
    if new_state is not None:
        actions.append(_path(new_state, job_type).add(1))
        if new_state in OUTCOMES:  # same row, same transaction: no extra item, no extra call
            actions.append(Path([total_attr(new_state, job_type)]).add(1))
    return CounterRow(job_id=shard_key(shard_of(job_id))), actions


def _reasons(exc: TransactWriteError) -> list[str]:
    return [getattr(r, "code", None) or "None" for r in (exc.cancellation_reasons or [])]


def refused(exc: TransactWriteError) -> bool:
    """The transaction's condition failed (nothing was written)."""
    return "ConditionalCheckFailed" in _reasons(exc) or exc.cause_response_code == "ConditionalCheckFailedException"


def conflicted(exc: TransactWriteError) -> bool:
    """Another transaction held one of its items (nothing was written; safe to try again)."""
    return "TransactionConflict" in _reasons(exc) or exc.cause_response_code == "TransactionConflictException"


def transact(
    job: Any,
    actions: list[Any],
    condition: Any,
    job_type: str,
    old_state: str,
    new_state: str,
    extra: list[tuple[Any, list[Any]]] | None = None,
) -> bool:
    """The job's conditional update, its counter moves and ``extra`` updates (its rollup items), all or
    nothing. False: the condition refused it."""
    row, adds = moves(job.job_id, job_type, old_state, new_state)
    for attempt in range(CONFLICT_RETRIES):
        try:
            with transaction() as tx:
                tx.update(job, actions=actions, condition=condition)
                tx.update(row, actions=adds)
                for item, item_actions in extra or ():
                    tx.update(item, actions=item_actions)
            return True
        except TransactWriteError as exc:
            if refused(exc):
                return False
            if not conflicted(exc) or attempt == CONFLICT_RETRIES - 1:
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # full jitter; nothing was written
    return False  # pragma: no cover - the loop returns or raises


# --- reads and repairs -----------------------------------------------------------------------------


def _connection() -> Any:
    return CounterRow._get_connection()  # pynamodb's table connection (low level: dynamic attributes)


def read_rows(extra: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Every shard row, raw (one BatchGetItem of ``SHARDS`` keys, consistent), plus the ``extra`` rows of the
    jobs table asked for in the same call (the job-health rows)."""
    conn = _connection()
    keys = [{"job_id": k} for k in [*shard_keys(), *extra]]
    rows: dict[str, dict[str, Any]] = {}
    pending: list[dict[str, Any]] = keys
    while pending:
        resp = conn.batch_get_item(pending, consistent_read=True)
        for item in resp.get("Responses", {}).get(CounterRow.Meta.table_name, []):
            rows[item["job_id"]["S"]] = item
        pending = resp.get("UnprocessedKeys", {}).get(CounterRow.Meta.table_name, {}).get("Keys", [])
    return rows


def totals(rows: dict[str, dict[str, Any]]) -> Counts:
    """The shards summed per (state, type)."""
    out: Counts = {}
    for item in rows.values():
        for name, value in item.items():
            key = parse_attr(name)
            if key is not None and "N" in value:
                out[key] = out.get(key, 0) + int(value["N"])
    return out


def read() -> Counts:
    return totals(read_rows())


def outcome_totals(rows: dict[str, dict[str, Any]]) -> Counts:
    """The monotonic outcome totals (``t:`` attributes) summed over the shards, per (state, type)."""
    out: Counts = {}
    for item in rows.values():
        for name, value in item.items():
            if name.startswith("t:") and "N" in value:
                state, _, job_type = name[2:].partition(":")
                out[(state, job_type)] = out.get((state, job_type), 0) + int(value["N"])
    return out


def drift(actual: Counts, counted: Counts) -> Counts:
    """What to add to the counters so they equal ``actual`` (only keys that differ)."""
    keys = set(actual) | set(counted)
    return {k: actual.get(k, 0) - counted.get(k, 0) for k in sorted(keys) if actual.get(k, 0) != counted.get(k, 0)}


def _value(rows: dict[str, dict[str, Any]], key: str, name: str) -> int | None:
    v = rows.get(key, {}).get(name)
    return int(v["N"]) if v and "N" in v else None


def repair(rows: dict[str, dict[str, Any]], delta: Counts) -> bool:
    """Add ``delta`` to shard 0, only while every shard still holds what ``rows`` read for those keys (one
    transaction over the shard rows). False: a transition moved one of them meanwhile (nothing written)."""
    if not delta:
        return True
    names = {k: attr(*k) for k in delta}
    try:
        with transaction() as tx:
            for n, key in enumerate(shard_keys()):
                cond = None
                for name in names.values():
                    seen = _value(rows, key, name)
                    c = Path([name]).does_not_exist() if seen is None else (Path([name]) == seen)
                    cond = c if cond is None else cond & c
                row = CounterRow(job_id=key)
                if n == 0:
                    tx.update(row, actions=[Path([names[k]]).add(d) for k, d in delta.items()], condition=cond)
                else:
                    tx.condition_check(CounterRow, key, condition=cond)
    except TransactWriteError as exc:
        if refused(exc) or conflicted(exc):
            return False
        raise
    return True


def add(items: Iterable[tuple[str, str, int]]) -> None:
    """Bulk-add counts (bench seeding): ``(state, type, n)`` onto shard 0, one UpdateItem."""
    acts: list[Any] = [Path([attr(s, t)]).add(n) for s, t, n in items]
    if acts:
        CounterRow(job_id=shard_key(0)).update(actions=acts)


# --- recount: the counters against the index, drift repaired -----------------------------------------

RECOUNT_ACTOR = {"role": "system", "id": "jobs-recount"}


def count_index(states_: Iterable[str]) -> Counts:
    """Every entry of the ``by_state`` index per (state, type), reading keys and type only (O(ledger):
    the recount's, never the summary's)."""
    from chalicelib.jobs.ledger import Job

    out: Counts = {}
    for state in states_:
        for job in Job.by_state.query(state, attributes_to_get=["job_id", "type"], page_size=1000):
            key = (state, job.type)
            out[key] = out.get(key, 0) + 1
    return out


def recount(*, apply: bool = False, actor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recompute the counts from the index and (with ``apply``) repair the counters' drift.

    Exact under live traffic: the counters are read before and after the index walk, and only the
    (state, type) keys no transition moved meanwhile ("quiet") are compared; busy keys are reported
    and left for the next run. The repair is one transaction conditional on every shard still holding
    what was read, so a transition racing it makes it refuse (``changed``) rather than double-count.
    Idempotent: a second run finds no drift. Applying is audited (``jobs.recount``) and logged.
    The index is eventually consistent on AWS: run it when the ledger is quiet, or twice.
    """
    from chalicelib.core import audit
    from chalicelib.core.observability import logger
    from chalicelib.jobs import states

    before = totals(read_rows())
    actual = count_index(states.STATES)
    rows = read_rows()
    after = totals(rows)
    busy = sorted(k for k in set(before) | set(after) if before.get(k, 0) != after.get(k, 0))
    quiet_actual = {k: v for k, v in actual.items() if k not in busy}
    quiet_counted = {k: v for k, v in after.items() if k not in busy}
    delta = drift(quiet_actual, quiet_counted)
    repaired = False
    if apply and delta:
        repaired = repair(rows, delta)
    out: dict[str, Any] = {
        "dry_run": not apply,
        "read": sum(actual.values()),
        "drift": [{"state": s, "type": t, "counted": after.get((s, t), 0), "actual": actual.get((s, t), 0)} for s, t in delta],
        "busy": [{"state": s, "type": t} for s, t in busy],
        "repaired": repaired,
        "changed": bool(apply and delta and not repaired),  # a transition raced the repair: run again
    }
    if apply:
        summary = {k: out[k] for k in ("read", "repaired", "changed")} | {"drift": len(delta), "busy": len(busy)}
        audit.record(actor or RECOUNT_ACTOR, "jobs.recount", "jobs:counts", {"apply": True}, summary)
    logger.info("job counts recounted", extra={"drift": len(delta), "busy": len(busy), "apply": apply, "repaired": repaired})
    return out
