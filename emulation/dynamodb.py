"""Make moto's DynamoDB linearizable, like the real service, when it is used from many threads.

moto applies a conditional write as read-check-write without a lock, and rolls a failed
transaction back by restoring a deep copy of every table it touched, which silently undoes writes
other threads made meanwhile. DynamoDB does neither. One re-entrant lock around every public
operation of moto's DynamoDB backend gives the tests and the local stack DynamoDB's semantics (at
the price of serialising DynamoDB calls, which an emulator on one machine can afford).

:func:`paused` holds the same lock: while it is held no DynamoDB operation runs (the snapshot's cut).

Under that lock a transaction needs no whole-table backup: :func:`_item_level_rollback` keeps a copy of
only the items the transaction names and puts them back if it is cancelled. moto's own backup is a
``copy.deepcopy`` of each table the transaction touches, so every transaction costs O(table) under the
lock: on a local stack with a few thousand attendance rows or job entries, each attendance write or
job transition held every other DynamoDB call for tens of milliseconds (the load run's stalls; README:
Performance and reliability). Check:
``grep -n "copy.deepcopy" .venv/lib/python3.12/site-packages/moto/dynamodb/models/__init__.py``
— while moto still deep-copies ``self.tables[table_name]`` in ``transact_write_items``, it is needed.

:func:`_json_bodies_untouched`: moto stamps its request id into every response body with a greedy
``re.sub`` from the first ``<RequestId>`` to the last ``</RequestId>``, JSON bodies too. A DynamoDB item
whose text holds those tags twice (an incident whose error quotes an AWS XML response) came back with
everything between them cut out: invalid JSON, and ``GET /admin/incidents`` answered 500 for every
page holding it (the fuzz found it). Only XML bodies are stamped now. Check:
``grep -n "RequestId>" .venv/lib/python3.12/site-packages/moto/core/responses.py`` — while the
substitution is applied to any body, it is needed (``tests/functional/test_emulated_transactions.py``).
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.RLock()
_PATCHED = False


def serialise_dynamodb() -> None:
    """Idempotent: wrap every public method of moto's DynamoDB backend in one lock."""
    global _PATCHED
    if _PATCHED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    _item_level_rollback()
    _json_bodies_untouched()
    for name, member in list(vars(DynamoDBBackend).items()):
        if name.startswith("_") or not callable(member) or isinstance(member, (staticmethod, classmethod)):
            continue
        setattr(DynamoDBBackend, name, _locked(member))
    _PATCHED = True


@contextmanager
def paused() -> Iterator[None]:
    """No DynamoDB operation runs (in this process) while this is held; re-entrant."""
    with _LOCK:
        yield


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return fn(*args, **kwargs)

    return wrapper


class _TablesAreNotCopied:
    """moto's ``copy`` module in its DynamoDB backend, except that a whole :class:`Table` is not copied."""

    @staticmethod
    def deepcopy(x: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        return x if isinstance(x, Table) else copy.deepcopy(x, memo)


def _item_level_rollback() -> None:
    """Back up a transaction's own items instead of its tables (exact under the lock: nothing interleaves)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType

    transact = models.DynamoDBBackend.transact_write_items
    models.copy = _TablesAreNotCopied  # type: ignore[assignment]  # its backup is then the live table (a no-op restore)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = []
        for entry in transact_items:
            op = next(iter(entry.values()), None)
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            try:
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            except (KeyError, TypeError):
                continue  # moto refuses the transaction before it writes this item
            item = table.get_item(hash_key, range_key)
            before.append((table, hash_key, range_key, copy.deepcopy(item)))
        try:
            transact(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(before):
                _restore(table, hash_key, range_key, item)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put ``item`` back under its key (None: the key held nothing), without moto's write path."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    rows = table.items[hash_key]
    if item is None:
        rows.pop(range_key, None)
        if not rows:
            table.items.pop(hash_key, None)
    else:
        rows[range_key] = item


def _json_bodies_untouched() -> None:
    """moto's response request-id stamp, for XML bodies only (a JSON body is data, returned as stored)."""
    from moto.core.responses import BaseResponse

    enrich = BaseResponse._enrich_response
    if getattr(enrich, "_xml_only", False):
        return

    def enrich_xml_only(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        if isinstance(text, str) and text.lstrip().startswith("<"):
            return enrich(headers, body)  # type: ignore[no-any-return]
        from moto.utilities.aws_headers import gen_amzn_requestid_long

        if "status" in headers:
            headers["status"] = str(headers["status"])
        gen_amzn_requestid_long(headers)  # the x-amzn-requestid header, as moto sets it
        return headers, body

    enrich_xml_only._xml_only = True  # type: ignore[attr-defined]
    BaseResponse._enrich_response = staticmethod(enrich_xml_only)  # type: ignore[method-assign,assignment]
