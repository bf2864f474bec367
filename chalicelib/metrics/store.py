"""Reads of the rollups table (the model and the writes are the platform's: :mod:`chalicelib.core.rollups`).

One ``Query`` per series on the bucket range (paged by DynamoDB's 1 MB pages): the items read are
the buckets that had events times their shards, whatever the number of events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from chalicelib.core.rollups import Rollup, series, stamp


class Row(NamedTuple):
    """One rollup item: its bucket's start (ISO, as stored), the parts after it, its number attributes."""

    t: str
    parts: tuple[str, ...]
    values: dict[str, float]


def _number(raw: str) -> float:
    value = float(raw)
    return int(value) if value.is_integer() else value


def read(kind: str, step: str, first: datetime, last: datetime) -> list[Row]:
    """Every item of ``kind``'s ``step`` series whose bucket starts in ``[first, last]`` (both bucket starts)."""
    client = Rollup._get_connection().connection.client
    kwargs: dict[str, Any] = {
        "TableName": Rollup.Meta.table_name,
        "KeyConditionExpression": "#s = :s AND #b BETWEEN :a AND :z",
        "ExpressionAttributeNames": {"#s": "series", "#b": "bucket"},
        "ExpressionAttributeValues": {
            ":s": {"S": series(kind, step)},
            ":a": {"S": stamp(first)},
            ":z": {"S": stamp(last) + "~"},  # "~" sorts after "|": every part of the last bucket
        },
    }
    rows: list[Row] = []
    while True:
        page = client.query(**kwargs)
        for item in page.get("Items", []):
            t, *parts = item["bucket"]["S"].split("|")
            values = {k: _number(v["N"]) for k, v in item.items() if "N" in v and k != "expires_at"}
            rows.append(Row(t, tuple(parts), values))
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
