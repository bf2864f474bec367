"""Faults injected at the AWS client layer (botocore before-call hooks), for tests that make a route fail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def raising(model: Any, operation: str, exc: BaseException) -> Iterator[list[int]]:
    """Every ``operation`` (e.g. ``"GetItem"``) on the DynamoDB client of pynamodb ``model`` raises ``exc``
    before anything is sent; yields the list of hits."""
    hits: list[int] = []

    def hook(**_: Any) -> None:
        hits.append(1)
        raise exc

    events = model._get_connection().connection.client.meta.events
    event, uid = f"before-call.dynamodb.{operation}", f"raise-{operation}"
    events.register_first(event, hook, unique_id=uid)
    try:
        yield hits
    finally:
        events.unregister(event, unique_id=uid)
