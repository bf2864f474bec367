"""moto's in-process state, read and written directly (the local stack's snapshot: academy_cli.snapshot).

Through the API a dump could not take one consistent cut of every table, would miss messages in
flight and would reset every message's receive count at a restore. So the snapshot reads moto's
backends instead, and only through this module:

- :func:`take_cut`: every item of the stage's tables (plain DynamoDB JSON), every message of its
  queues (in flight or delayed too, with receive counts) and the bucket's object list, all read
  while no DynamoDB operation runs (:func:`emulation.dynamodb.paused`);
- :func:`copy_object` / :func:`current_object`: an object's bytes, streamed from moto's buffer under
  the object's own lock (raises :class:`ObjectReplaced` when moto closed it: overwritten or deleted);
- :func:`queue_names` / :func:`put_message`: a message put back with its receive count (SQS's API
  cannot set one), so ``maxReceiveCount`` still counts the tries made before the restart;
- :func:`queue_contents`: (body, receive count) of every message of a queue, for tests.
"""

from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass, field
from typing import IO, Any

from emulation.dynamodb import paused

MOTO_ACCOUNT = "123456789012"  # moto's default account: every resource of the emulator lives there


class ObjectReplaced(Exception):
    """moto closed the object's buffer while it was read: it was overwritten or deleted."""


@dataclass(frozen=True)
class StoredObject:
    """One object of a bucket as HeadObject describes it, and moto's handle on its bytes."""

    key: str
    etag: str
    size: int
    content_type: str | None
    metadata: dict[str, str]  # user metadata, without the ``x-amz-meta-`` prefix
    handle: Any = field(repr=False, compare=False)  # moto's FakeKey


@dataclass
class Cut:
    """Tables (name → items as a Scan returns them), the bucket's objects, queues (name → messages)."""

    items: dict[str, list[dict[str, Any]]]
    objects: list[StoredObject]
    messages: dict[str, list[dict[str, Any]]]


def take_cut(prefix: str, bucket: str, region: str) -> Cut:
    """Tables and queues named ``prefix…`` and ``bucket``'s object list, read while no DynamoDB operation can run.

    SQS and S3 requests do not take that lock: a message or object a concurrent request writes can land
    on either side of the cut. Bytes are not read here (:func:`copy_object`).
    """
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[MOTO_ACCOUNT][region]
    with paused():
        # plain copies of every item (moto updates items in place), what a Scan returns (binary as bytes)
        items = {
            name: [{k: _plain(v) for k, v in item.attrs.items()} for item in table.all_items()]
            for name, table in sorted(backend.tables.items())
            if name.startswith(prefix)
        }
        messages = _queue_messages(region, prefix)
        objects = _object_list(bucket, region)
    return Cut(items, objects, messages)


def _plain(value: Any) -> Any:
    """A moto ``DynamoType`` as DynamoDB JSON, like moto's ``dynamo_to_dict`` in ~60% of its time (runs under the lock)."""
    kind = getattr(value, "type", None)
    if kind is None:  # not a DynamoType (moto keeps a few plain values in lists)
        from moto.dynamodb.models.utilities import dynamo_to_dict

        return dynamo_to_dict(value)
    raw = value.value
    if kind == "M":
        return {"M": {k: _plain(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [_plain(v) for v in raw]}
    if kind == "B":
        return {"B": raw if isinstance(raw, bytes) else base64.b64decode(raw)}
    if kind == "BS":
        return {"BS": [v if isinstance(v, bytes) else base64.b64decode(v) for v in raw]}
    if kind in ("SS", "NS"):
        return {kind: list(raw)}
    return {kind: raw}


def _object_list(bucket: str, region: str) -> list[StoredObject]:
    from moto.s3.models import FakeKey

    return [_described(name, key) for name, key in list(_bucket(bucket, region).keys.items()) if isinstance(key, FakeKey)]


def _described(name: str, key: Any) -> StoredObject:
    with key.lock:  # moto computes an ETag lazily by reading the buffer
        etag = key.etag
    return StoredObject(name, etag, key.size, *_key_headers(key), handle=key)


def _bucket(bucket: str, region: str) -> Any:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    return s3_backends[MOTO_ACCOUNT][get_partition(region)].get_bucket(bucket)


def _key_headers(key: Any) -> tuple[str | None, dict[str, str]]:
    """Content type and user metadata (without the ``x-amz-meta-`` prefix), as HeadObject returns them."""
    meta = {str(k).lower(): v for k, v in dict(key.metadata).items()}
    user = {k.removeprefix("x-amz-meta-"): v for k, v in meta.items() if k.startswith("x-amz-meta-")}
    return meta.get("content-type"), user


def copy_object(obj: StoredObject, out: IO[bytes], chunk: int = 1 << 20) -> StoredObject:
    """Stream ``obj``'s bytes into ``out``; the object as it was copied (ETag and size read with the bytes).

    Raises :class:`ObjectReplaced` when moto closed the buffer (look it up again: :func:`current_object`).
    """
    key = obj.handle
    try:
        with key.lock:
            etag = key.etag
            buffer = key._value_buffer
            buffer.seek(0)
            shutil.copyfileobj(buffer, out, chunk)
            size = key.size
    except ValueError as exc:  # I/O on a closed buffer
        raise ObjectReplaced(obj.key) from exc
    return StoredObject(obj.key, etag, size, *_key_headers(key), handle=key)


def current_object(bucket: str, region: str, name: str) -> StoredObject | None:
    """The object stored under ``name`` now; ``None`` once deleted."""
    key = _bucket(bucket, region).keys.get(name)
    return None if key is None else _described(name, key)


def _queue_messages(region: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every message of the queues named ``prefix…``, from moto's in-process backend (visible or not)."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[MOTO_ACCOUNT][region]
    out: dict[str, list[dict[str, Any]]] = {}
    for name, queue in sorted(backend.queues.items()):
        if not name.startswith(prefix):
            continue
        with queue._messages_lock:
            out[name] = [
                {"body": m.body, "attributes": m.message_attributes, "receive_count": m.approximate_receive_count}
                for m in queue._messages
            ]
    return out


def queue_names(region: str) -> set[str]:
    from moto.sqs.models import sqs_backends

    return set(sqs_backends[MOTO_ACCOUNT][region].queues)


def put_message(region: str, queue: str, body: str, attributes: dict[str, Any] | None, receive_count: int) -> None:
    """Send ``body`` to ``queue`` (visible at once) as a message already received ``receive_count`` times."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[MOTO_ACCOUNT][region]
    msg = backend.send_message(queue, body, message_attributes=attributes or None, delay_seconds=0)
    msg.approximate_receive_count = receive_count


def queue_contents(region: str, queue: str) -> list[tuple[str, int]]:
    """(body, receive count) of every message of ``queue``, sorted (visible or not)."""
    from moto.sqs.models import sqs_backends

    q = sqs_backends[MOTO_ACCOUNT][region].queues[queue]
    with q._messages_lock:
        return sorted((m.body, m.approximate_receive_count) for m in q._messages)
