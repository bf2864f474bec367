"""Make moto's DynamoDB linearizable, like the real service, when it is used from many threads.

moto applies a conditional write as read-check-write without a lock, and rolls a failed
transaction back by restoring a deep copy of every table it touched, which silently undoes writes
other threads made meanwhile. DynamoDB does neither. One re-entrant lock around every public
operation of moto's DynamoDB backend gives the tests and the local stack DynamoDB's semantics (at
the price of serialising DynamoDB calls, which an emulator on one machine can afford).

:func:`paused` holds the same lock: while it is held no DynamoDB operation runs (the snapshot's cut).
"""

from __future__ import annotations

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
