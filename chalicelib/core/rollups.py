"""Rollups: time-bucketed counters in one table, written by the events they count.

The platform's, like the audit log: ``jobs/`` adds its items to the ledger's own transactions, and
any capability may count through the per-invocation buffer (:func:`count`, flushed by the middleware
once per Lambda invocation in one call). :mod:`chalicelib.metrics` reads them.

Layout (table ``rollups``): the hash key is the series ``<kind>|<step>`` (``job|m``, ``inc|h``), the
range key ``<bucket start>|<part>|…`` (ISO 8601 UTC, so a bucket range is one ``Query`` with
``between``). Each item holds plain number attributes (``succeeded``, ``run:07`` for histogram bucket 7,
``x:bytes_in``) and ``expires_at`` (TTL: minute items 24 h, hour items 90 days after their bucket
ends). Reads choose their range by bucket time and never rely on TTL having deleted anything.

Histograms: fixed millisecond edges (:data:`EDGES_MS`); bucket ``i`` counts values in
``(EDGES_MS[i-1], EDGES_MS[i]]``, the last one everything above 900 s.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.expressions.operand import Path
from pynamodb.models import Model

from chalicelib.core.db import meta

MINUTE, HOUR = "m", "h"
STEPS = (MINUTE, HOUR)
STEP_S = {MINUTE: 60, HOUR: 3600}
KEEP_S = {MINUTE: 24 * 3600, HOUR: 90 * 24 * 3600}  # what reads may ask for; TTL deletes later than that
EDGES_MS: tuple[int, ...] = (10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 900_000)
HIST_BUCKETS = len(EDGES_MS) + 1  # the last: above 900 s
BUFFER_MAX_ITEMS = 50  # a buffer this full flushes at once (a long invocation never holds much)


class Rollup(Model):
    """One bucket of one series (its counters are dynamic number attributes, written with ``ADD``)."""

    Meta = meta("rollups")
    series = UnicodeAttribute(hash_key=True)  # "<kind>|<step>"
    bucket = UnicodeAttribute(range_key=True)  # "<bucket start ISO>|<part>|…"
    expires_at = TTLAttribute(null=True)


# --- the scheme (pure) -------------------------------------------------------------------------------


def bucket_start(at: datetime, step: str) -> datetime:
    """The UTC start of the ``step`` bucket holding ``at`` (naive times are taken as UTC)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    at = at.replace(second=0, microsecond=0)
    return at.replace(minute=0) if step == HOUR else at


def stamp(start: datetime) -> str:
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def series(kind: str, step: str) -> str:
    return f"{kind}|{step}"


def sort_key(start: datetime, *parts: str) -> str:
    return "|".join((stamp(start), *parts))


def expires(start: datetime, step: str) -> datetime:
    """When TTL may delete a bucket: one bucket after it left the readable window."""
    return start + timedelta(seconds=KEEP_S[step] + 2 * STEP_S[step])


def hist_index(ms: float) -> int:
    """The histogram bucket of a duration in milliseconds (negative clock skew counts as 0)."""
    return bisect.bisect_left(EDGES_MS, max(0.0, ms))


def hist_attr(name: str, index: int) -> str:
    return f"{name}:{index:02d}"


# --- writes ------------------------------------------------------------------------------------------


def item_update(
    kind: str, step: str, at: datetime, parts: Iterable[str], fields: Mapping[str, float]
) -> tuple[Rollup, list[Any]]:
    """The item and the ``ADD`` actions (plus its TTL) of ``fields`` in ``at``'s ``step`` bucket: for a
    transaction the caller already makes (``tx.update(item, actions=actions)``)."""
    start = bucket_start(at, step)
    item = Rollup(series=series(kind, step), bucket=sort_key(start, *parts))
    actions: list[Any] = [Path([name]).add(value) for name, value in sorted(fields.items()) if value]
    actions.append(Rollup.expires_at.set(expires(start, step)))
    return item, actions


def updates(kind: str, at: datetime, parts: Iterable[str], fields: Mapping[str, float]) -> list[tuple[Rollup, list[Any]]]:
    """The minute and the hour item of one event (both go into the caller's transaction)."""
    parts = tuple(parts)
    return [item_update(kind, step, at, parts, fields) for step in STEPS]


class Buffer:
    """Counts of one invocation, summed per item, written by :meth:`flush` in one call: an UpdateItem
    for one item, else TransactWriteItems of up to 100 (all or nothing). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], dict[str, float]] = {}
        self._expiry: dict[tuple[str, str], datetime] = {}

    def add(self, kind: str, at: datetime, parts: Iterable[str], fields: Mapping[str, float]) -> None:
        parts = tuple(parts)
        full = False
        with self._lock:
            for step in STEPS:
                start = bucket_start(at, step)
                key = (series(kind, step), sort_key(start, *parts))
                acc = self._items.setdefault(key, {})
                for name, value in fields.items():
                    acc[name] = acc.get(name, 0) + value
                self._expiry[key] = expires(start, step)
            full = len(self._items) >= BUFFER_MAX_ITEMS
        if full:
            self.flush()

    def pending(self) -> int:
        with self._lock:
            return len(self._items)

    def take(self) -> list[tuple[tuple[str, str], dict[str, float], datetime]]:
        with self._lock:
            out = [(k, v, self._expiry[k]) for k, v in self._items.items() if any(v.values())]
            self._items, self._expiry = {}, {}
        return out

    def flush(self) -> int:
        """Write what is pending; returns the number of DynamoDB calls made (0 or 1 per 100 items)."""
        return write(self.take())


def write(items: list[tuple[tuple[str, str], dict[str, float], datetime]]) -> int:
    """One UpdateItem for one item, else TransactWriteItems of up to 100; returns the calls made."""
    calls = 0
    for n in range(0, len(items), 100):
        requests = [_update_request(key, fields, expiry) for key, fields, expiry in items[n : n + 100]]
        client = Rollup._get_connection().connection.client
        if len(requests) == 1:
            client.update_item(**requests[0])
        else:
            client.transact_write_items(TransactItems=[{"Update": r} for r in requests])
        calls += 1
    return calls


def _update_request(key: tuple[str, str], fields: Mapping[str, float], expiry: datetime) -> dict[str, Any]:
    names = {"#e": "expires_at"}
    values: dict[str, Any] = {":e": {"N": str(int(expiry.timestamp()))}}
    adds = []
    for n, (name, value) in enumerate(sorted(fields.items())):
        if not value:
            continue
        names[f"#f{n}"] = name
        values[f":f{n}"] = {"N": _number(value)}
        adds.append(f"#f{n} :f{n}")
    return {
        "TableName": Rollup.Meta.table_name,
        "Key": {"series": {"S": key[0]}, "bucket": {"S": key[1]}},
        "UpdateExpression": f"ADD {', '.join(adds)} SET #e = :e",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 6))


def raise_max(kind: str, at: datetime, parts: Iterable[str], name: str, value: float) -> None:
    """``name`` := max(``name``, ``value``) on the minute and the hour item (one conditional UpdateItem
    each; idempotent, so a redelivered event changes nothing). For peaks, which ``ADD`` cannot keep."""
    parts = tuple(parts)
    client = Rollup._get_connection().connection.client
    for step in STEPS:
        start = bucket_start(at, step)
        try:
            client.update_item(
                TableName=Rollup.Meta.table_name,
                Key={"series": {"S": series(kind, step)}, "bucket": {"S": sort_key(start, *parts)}},
                UpdateExpression="SET #v = :v, #e = if_not_exists(#e, :e)",
                ConditionExpression="attribute_not_exists(#v) OR #v < :v",
                ExpressionAttributeNames={"#v": name, "#e": "expires_at"},
                ExpressionAttributeValues={":v": {"N": _number(value)}, ":e": {"N": str(int(expires(start, step).timestamp()))}},
            )
        except client.exceptions.ConditionalCheckFailedException:
            pass  # a higher (or equal) peak is already there


BUFFER = Buffer()
# DynamoDB capacity per API route: kept across the warm container's invocations and written at most
# once a minute: metering must not add a write to every request. A container that stops loses its
# last minute of figures (a lower bound).
CAPACITY = Buffer()
CAPACITY_KIND = "cap"
CAPACITY_FLUSH_S = 60.0
_capacity_flushed = [time.monotonic()]


def count_capacity(route: str, units: Mapping[str, float], at: datetime) -> None:
    """One request of ``route`` and the read/write units it consumed."""
    fields = {"requests": 1, "read_units": units.get("read_units", 0), "write_units": units.get("write_units", 0)}
    CAPACITY.add(CAPACITY_KIND, at, (route,), fields)


def count(kind: str, at: datetime, parts: Iterable[str], fields: Mapping[str, float]) -> None:
    """Count ``fields`` in ``at``'s minute and hour buckets, written when the invocation ends."""
    BUFFER.add(kind, at, parts, fields)


def flush(*, force: bool = False) -> int:
    """Write this invocation's counts (the middleware calls it once per invocation: one call), and the
    container's capacity figures once a minute (one more call then; merging them into the intake's
    write made its transaction 4 items instead of 2, measured in bench_rollups)."""
    items = BUFFER.take()
    calls = write(items) if items else 0
    now = time.monotonic()
    if force or now - _capacity_flushed[0] >= CAPACITY_FLUSH_S:
        _capacity_flushed[0] = now
        figures = CAPACITY.take()
        calls += write(figures) if figures else 0
    return calls
