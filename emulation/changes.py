"""A cheap "has anything changed?" signal for the local stack's autosave, read from moto's backends.

moto's DynamoDB and S3 backends count their mutating calls (:func:`install_write_counter` wraps every
public method that is not a read); SQS state is fingerprinted instead (:func:`sqs_fingerprint`:
message ids and receive counts), because an empty long poll is a call but changes nothing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from emulation.state import MOTO_ACCOUNT

_READ_PREFIXES = ("get_", "describe_", "list_", "head_", "iter_", "is_")
_READ_NAMES = frozenset(
    {"query", "scan", "batch_get_item", "transact_get_items", "select_object_content", "log_incoming_request"}
)
_writes = 0
_writes_lock = threading.Lock()
_COUNTER_INSTALLED = False


def writes_seen() -> int:
    """How many mutating DynamoDB/S3 backend calls have completed since :func:`install_write_counter`."""
    return _writes


def install_write_counter() -> None:
    """Idempotent: count every completed call of a public DynamoDB/S3 backend method that is not a read.

    Unknown methods count as writes (a false "changed" costs one save; a missed one loses data). The
    count goes up after the call returns (or fails), so a dump that reads the count first and the
    data second never records a write it did not see.
    """
    global _COUNTER_INSTALLED
    if _COUNTER_INSTALLED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.s3.models import S3Backend

    for cls in (DynamoDBBackend, S3Backend):
        for name, member in list(vars(cls).items()):
            if name.startswith("_") or not callable(member) or isinstance(member, staticmethod | classmethod):
                continue
            if name in _READ_NAMES or name.startswith(_READ_PREFIXES):
                continue
            setattr(cls, name, _counted(member))
    _COUNTER_INSTALLED = True


def _counted(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _writes
        try:
            return fn(*args, **kwargs)
        finally:
            with _writes_lock:
                _writes += 1

    return wrapper


def sqs_fingerprint(region: str, prefix: str) -> int:
    """A hash of every message (id, receive count) of the queues whose names start with ``prefix``."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[MOTO_ACCOUNT][region]
    parts = []
    for name, queue in sorted(backend.queues.items()):
        if name.startswith(prefix):
            with queue._messages_lock:
                parts.append((name, tuple((m.id, m.approximate_receive_count) for m in queue._messages)))
    return hash(tuple(parts))
