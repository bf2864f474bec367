"""DynamoDB capacity per invocation: every call asks for ``ReturnConsumedCapacity=TOTAL`` (free on AWS)
and what the responses report is summed here, read units and write units apart, until the middleware
:func:`take` s it for the invocation's route (chalicelib.core.rollups counts it per route and bucket).

A response without the figure (moto's TransactWriteItems) is estimated as AWS bills it for items up
to 1 KB: 2 write units per transactional item. Locally the figures are moto's, which differ from
AWS's (e.g. 0.5 for an UpdateItem); on AWS they are AWS's own.
"""

from __future__ import annotations

import threading
from typing import Any

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
METERED = READS | {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}

_lock = threading.Lock()
_totals = {"read_units": 0.0, "write_units": 0.0, "calls": 0.0}


def _ask(params: dict[str, Any], model: Any, context: Any = None, **_: Any) -> None:
    if model.name in METERED and "ReturnConsumedCapacity" not in params:
        params["ReturnConsumedCapacity"] = "TOTAL"
    if context is not None and "TransactItems" in params:
        context["academy_transact_items"] = len(params["TransactItems"])


def _units(parsed: dict[str, Any], operation: str, transact_items: int) -> float:
    consumed = parsed.get("ConsumedCapacity")
    if isinstance(consumed, dict):
        consumed = [consumed]
    if consumed:
        return float(sum(float(c.get("CapacityUnits") or 0) for c in consumed))
    if operation == "TransactWriteItems":
        return 2.0 * transact_items
    return 0.0


def _record(http_response: Any, parsed: dict[str, Any], model: Any, context: Any = None, **_: Any) -> None:
    name = model.name
    if name not in METERED:
        return
    units = _units(parsed or {}, name, int((context or {}).get("academy_transact_items") or 0))
    with _lock:
        _totals["read_units" if name in READS else "write_units"] += units
        _totals["calls"] += 1


def install(session: Any) -> None:
    """Meter every DynamoDB client ``session`` creates (idempotent per session)."""
    if getattr(session, "academy_metered", False):
        return
    session.register("before-parameter-build.dynamodb", _ask)
    session.register("after-call.dynamodb", _record)
    session.academy_metered = True


def take() -> dict[str, float]:
    """What was consumed since the last take (and start again from zero)."""
    with _lock:
        out = dict(_totals)
        for k in _totals:
            _totals[k] = 0.0
    return out
