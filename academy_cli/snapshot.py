"""Local data that survives a restart of ``academy up``: saved periodically and at a clean stop, restored on start.

A snapshot is a directory::

    <data-dir>/snapshot/
      meta.json                      stage, time, counts (written last: a snapshot without it is incomplete)
      dynamodb/<table>.jsonl         one item per line (DynamoDB JSON; binary as {"$b64": ...})
      s3/manifest.json + s3/objects/ every object of the media bucket, with content type, metadata and ETag
      sqs/<queue>.json               every message still in a queue (in flight or delayed too)

Writing is crash-safe: a dump fills ``snapshot.new`` (every file fsynced, ``meta.json`` last, so a
directory without it is incomplete), then swaps it in with renames (``snapshot`` → ``snapshot.old``,
``snapshot.new`` → ``snapshot``, directory fsynced). A kill at any point leaves at least one complete
snapshot; :func:`snapshot_dir` picks the newest complete one and the next dump tidies up. Objects whose
ETag and size match the previous snapshot are hard-linked from it, not copied again, so a periodic save
of a large bucket costs what changed.

The dump reads moto's in-process backends, not the API: one cut is taken while holding the lock that
serialises moto's DynamoDB (:mod:`academy_cli.emulator`), so every table is read at the same point
between two DynamoDB operations, and the queues' messages and the bucket's object list are taken under
that same lock right after. What is not a single point in time: SQS and S3 requests do not take that
lock, so a message or object written by a concurrent S3/SQS request can land on either side of the cut
(a few milliseconds of skew); an object's bytes are copied after the cut, and an object overwritten or
deleted before its bytes are copied is saved in its newer state (or left out). SQS receive counts are
restored, visibility timers are not (every restored message is visible at once). The price of the cut:
DynamoDB calls wait while it copies the items (measured ~0.3-0.5 s per 20,000 small items).

:class:`ChangeTracker` answers "has anything changed since the last save?" cheaply: moto's DynamoDB and
S3 backends count their mutating calls (:func:`install_write_counter`), SQS state is fingerprinted
(message ids and receive counts), because an empty long poll is a call but changes nothing.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

log = logging.getLogger("academy.snapshot")

MOTO_ACCOUNT = "123456789012"
COPY_CHUNK = 1 << 20
SINGLE_PUT_MAX = 5 * 1024**3  # restore with one PUT per object (S3's limit), so ETags stay plain MD5s and match

_DUMP_LOCK = threading.Lock()  # one dump at a time in this process (autosave vs. the final save at stop)


def _encode(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray):
        return {"$b64": base64.b64encode(bytes(obj)).decode()}
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$b64" in obj:
        return base64.b64decode(obj["$b64"])
    return obj


def _tables(ddb: Any, prefix: str) -> list[str]:
    names: list[str] = []
    for page in ddb.get_paginator("list_tables").paginate():
        names.extend(n for n in page["TableNames"] if n.startswith(prefix))
    return names


# --- change signal ----------------------------------------------------------------------------

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


def _counted(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _writes
        try:
            return fn(*args, **kwargs)
        finally:
            with _writes_lock:
                _writes += 1

    return wrapper


def _sqs_fingerprint(region: str, prefix: str) -> int:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[MOTO_ACCOUNT][region]
    parts = []
    for name, queue in sorted(backend.queues.items()):
        if name.startswith(prefix):
            with queue._messages_lock:
                parts.append((name, tuple((m.id, m.approximate_receive_count) for m in queue._messages)))
    return hash(tuple(parts))


@dataclass
class ChangeTracker:
    """Compares the emulator's state token with the one recorded at the last save (or restore)."""

    region: str
    stage: str
    saved: tuple[int, int] | None = None

    def current(self) -> tuple[int, int]:
        """Read before dumping: a change made during the dump shows up as a difference next time."""
        return writes_seen(), _sqs_fingerprint(self.region, f"academy-{self.stage}-")

    def mark_saved(self, token: tuple[int, int]) -> None:
        self.saved = token

    def changed(self, token: tuple[int, int]) -> bool:
        return token != self.saved


# --- dump -------------------------------------------------------------------------------------


@dataclass
class _Cut:
    items: dict[str, list[dict[str, Any]]]
    objects: list[tuple[str, Any, str, int, str | None, dict[str, str]]]  # key, FakeKey, etag, size, type, metadata
    messages: dict[str, list[dict[str, Any]]]


def dump(data_dir: Path, stage: str, bucket: str, region: str) -> dict[str, int]:
    """Write a snapshot of the stage's tables, bucket and queues, crash-safely; returns counts.

    Counts: ``items``, ``objects``, ``messages``, and ``objects_copied``/``bytes_copied`` (objects
    not already in the previous snapshot with the same ETag and size; the rest are hard-linked).
    """
    with _DUMP_LOCK:
        return _dump(data_dir, stage, bucket, region)


def _dump(data_dir: Path, stage: str, bucket: str, region: str) -> dict[str, int]:
    data_dir.mkdir(parents=True, exist_ok=True)
    _settle(data_dir)
    live, new = data_dir / "snapshot", data_dir / "snapshot.new"
    reusable = _reusable_objects(live)
    shutil.rmtree(new, ignore_errors=True)
    for sub in ("dynamodb", "s3/objects", "sqs"):
        (new / sub).mkdir(parents=True)

    cut = _take_cut(stage, bucket, region)
    counts = {"items": 0, "objects": 0, "messages": 0, "objects_copied": 0, "bytes_copied": 0}
    for table, items in cut.items.items():
        _write_file(new / "dynamodb" / f"{table}.jsonl", (json.dumps(item, default=_encode) + "\n" for item in items))
        counts["items"] += len(items)

    manifest = []
    for key_name, key, etag, size, content_type, metadata in cut.objects:
        dest = new / "s3" / "objects" / str(len(manifest))
        source = reusable.get((etag, size))
        if source is None or not _link_or_copy(source, dest):
            saved = _copy_object(key, dest, bucket, key_name, region)
            if saved is None:  # deleted after the cut, before its bytes were copied
                continue
            etag, size, content_type, metadata = saved
            counts["objects_copied"] += 1
            counts["bytes_copied"] += size
        manifest.append(
            {"key": key_name, "file": dest.name, "content_type": content_type, "metadata": metadata, "etag": etag, "size": size}
        )
    _write_file(new / "s3" / "manifest.json", [json.dumps(manifest, indent=1)])
    counts["objects"] = len(manifest)

    for name, messages in cut.messages.items():
        _write_file(new / "sqs" / f"{name}.json", [json.dumps(messages, default=_encode)])
        counts["messages"] += len(messages)

    for sub in ("dynamodb", "s3/objects", "s3", "sqs"):
        _fsync_dir(new / sub)
    _write_file(new / "meta.json", [json.dumps({"stage": stage, "dumped_at": time.time(), **counts})])
    _fsync_dir(new)
    _swap(data_dir)
    return counts


def _take_cut(stage: str, bucket: str, region: str) -> _Cut:
    """Tables, queue messages and the object list, read while no DynamoDB operation can run."""
    from moto.dynamodb.models import dynamodb_backends

    from academy_cli.emulator import _LOCK as DYNAMODB_LOCK

    prefix = f"academy-{stage}-"
    backend = dynamodb_backends[MOTO_ACCOUNT][region]
    with DYNAMODB_LOCK:
        # plain copies of every item (moto updates items in place), what a Scan returns (binary as bytes)
        items = {
            name: [{k: _plain(v) for k, v in item.attrs.items()} for item in table.all_items()]
            for name, table in sorted(backend.tables.items())
            if name.startswith(prefix)
        }
        messages = _sqs_messages(region, prefix)
        objects = _object_list(bucket, region)
    return _Cut(items, objects, messages)


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


def _object_list(bucket: str, region: str) -> list[tuple[str, Any, str, int, str | None, dict[str, str]]]:
    from moto.s3.models import FakeKey

    out = []
    for name, key in list(_bucket(bucket, region).keys.items()):
        if isinstance(key, FakeKey):
            with key.lock:  # moto computes an ETag lazily by reading the buffer
                etag = key.etag
            out.append((name, key, etag, key.size, *_key_headers(key)))
    return out


def _bucket(bucket: str, region: str) -> Any:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    return s3_backends[MOTO_ACCOUNT][get_partition(region)].get_bucket(bucket)


def _key_headers(key: Any) -> tuple[str | None, dict[str, str]]:
    """Content type and user metadata (without the ``x-amz-meta-`` prefix), as HeadObject returns them."""
    meta = {str(k).lower(): v for k, v in dict(key.metadata).items()}
    user = {k.removeprefix("x-amz-meta-"): v for k, v in meta.items() if k.startswith("x-amz-meta-")}
    return meta.get("content-type"), user


def _copy_object(key: Any, dest: Path, bucket: str, name: str, region: str) -> tuple[str, int, str | None, dict[str, str]] | None:
    """Stream one object's bytes to ``dest`` (fsynced); if it was replaced meanwhile, its newer version."""
    for _ in range(5):
        try:
            with dest.open("wb") as fh:
                with key.lock:
                    etag = key.etag
                    buffer = key._value_buffer
                    buffer.seek(0)
                    shutil.copyfileobj(buffer, fh, COPY_CHUNK)
                    size = key.size
                fh.flush()
                os.fsync(fh.fileno())
            return (etag, size, *_key_headers(key))
        except ValueError:  # moto closed the buffer: the object was overwritten or deleted
            key = _bucket(bucket, region).keys.get(name)
            if key is None:
                dest.unlink(missing_ok=True)
                return None
    raise RuntimeError(f"s3://{bucket}/{name} kept changing while it was being saved")


def _reusable_objects(live: Path) -> dict[tuple[str, int], Path]:
    """(ETag, size) → file of the previous complete snapshot, for objects saved with their ETag."""
    manifest_path = live / "s3" / "manifest.json"
    if not (live / "meta.json").exists() or not manifest_path.exists():
        return {}
    out = {}
    for entry in json.loads(manifest_path.read_text()):
        if entry.get("etag") and entry.get("size") is not None:
            path = live / "s3" / "objects" / entry["file"]
            if path.exists():
                out[(entry["etag"], int(entry["size"]))] = path
    return out


def _link_or_copy(source: Path, dest: Path) -> bool:
    """Hard-link ``source`` (files of a snapshot are never modified in place); copy where links fail."""
    try:
        os.link(source, dest)
        return True
    except OSError:
        pass
    try:
        shutil.copyfile(source, dest)
        with dest.open("rb") as fh:
            os.fsync(fh.fileno())
        return True
    except OSError:
        dest.unlink(missing_ok=True)
        return False


def _write_file(path: Path, chunks: Iterable[str]) -> None:
    with path.open("w") as fh:
        for chunk in chunks:
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _complete(path: Path) -> bool:
    return (path / "meta.json").exists()


def _settle(data_dir: Path) -> None:
    """After an interrupted dump or swap, make the newest complete snapshot ``snapshot`` and drop the others.

    A complete ``snapshot.new`` is the newest (a dump starts from a settled directory), so its swap is
    finished; otherwise ``snapshot``, else ``snapshot.old``. Every step leaves a complete snapshot that
    :func:`snapshot_dir` finds, whatever the point a kill stops it at.
    """
    live, new, old = data_dir / "snapshot", data_dir / "snapshot.new", data_dir / "snapshot.old"
    if _complete(new):
        _swap(data_dir)
    elif not _complete(live) and _complete(old):
        shutil.rmtree(live, ignore_errors=True)
        old.rename(live)
        _fsync_dir(data_dir)
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _swap(data_dir: Path) -> None:
    """Complete ``snapshot.new`` becomes ``snapshot`` (the previous one is ``snapshot.old`` meanwhile)."""
    live, new, old = data_dir / "snapshot", data_dir / "snapshot.new", data_dir / "snapshot.old"
    shutil.rmtree(old, ignore_errors=True)
    if live.exists():
        live.rename(old)
    new.rename(live)
    _fsync_dir(data_dir)
    shutil.rmtree(old, ignore_errors=True)


def _sqs_messages(region: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every message of the stage's queues, from moto's in-process backend (visible or not)."""
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


# --- restore ----------------------------------------------------------------------------------


def snapshot_dir(data_dir: Path) -> Path | None:
    """The newest complete snapshot: ``snapshot.new`` if a kill cut its swap short, else ``snapshot``, else ``snapshot.old``."""
    for name in ("snapshot.new", "snapshot", "snapshot.old"):
        candidate = data_dir / name
        if _complete(candidate):
            return candidate
    return None


def restore(data_dir: Path, stage: str, bucket: str, region: str) -> dict[str, int] | None:
    """Load the snapshot into freshly deployed resources; ``None`` when there is nothing to load."""
    from boto3.s3.transfer import TransferConfig

    snap = snapshot_dir(data_dir)
    if snap is None:
        return None
    meta = json.loads((snap / "meta.json").read_text())
    if meta.get("stage") != stage:
        raise RuntimeError(f"{snap} holds stage {meta.get('stage')!r}, not {stage!r}")
    counts = {"items": 0, "objects": 0, "messages": 0, "skipped_tables": 0}

    ddb = boto3.client("dynamodb", region_name=region)
    existing = set(_tables(ddb, f"academy-{stage}-"))
    for path in sorted((snap / "dynamodb").glob("*.jsonl")):
        table = path.stem
        if table not in existing:  # a model that no longer exists
            log.warning("saved table %s no longer exists; its items are not restored", table)
            counts["skipped_tables"] += 1
            continue
        batch: list[dict[str, Any]] = []
        with path.open() as fh:
            for line in fh:
                if line.strip():
                    batch.append({"PutRequest": {"Item": json.loads(line, object_hook=_decode)}})
                if len(batch) == 25:
                    _write_batch(ddb, table, batch)
                    counts["items"] += len(batch)
                    batch = []
        if batch:
            _write_batch(ddb, table, batch)
            counts["items"] += len(batch)

    s3 = boto3.client("s3", region_name=region)
    single_put = TransferConfig(multipart_threshold=SINGLE_PUT_MAX)
    manifest_path = snap / "s3" / "manifest.json"
    for entry in json.loads(manifest_path.read_text()) if manifest_path.exists() else []:
        extra: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
        if entry.get("content_type"):
            extra["ContentType"] = entry["content_type"]
        s3.upload_file(str(snap / "s3" / "objects" / entry["file"]), bucket, entry["key"], ExtraArgs=extra, Config=single_put)
        counts["objects"] += 1

    counts["messages"] = _restore_messages(snap / "sqs", region)
    return counts


def _write_batch(ddb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending = {table: requests}
    for attempt in range(10):
        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(0.05 * (attempt + 1))
    raise RuntimeError(f"could not restore every item of {table}")


def _restore_messages(sqs_dir: Path, region: str) -> int:
    """Put messages back with their receive counts, so maxReceiveCount still counts earlier tries."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[MOTO_ACCOUNT][region]
    n = 0
    for path in sorted(sqs_dir.glob("*.json")):
        if path.stem not in backend.queues:
            continue
        for m in json.loads(path.read_text(), object_hook=_decode):
            msg = backend.send_message(path.stem, m["body"], message_attributes=m.get("attributes") or None, delay_seconds=0)
            msg.approximate_receive_count = int(m.get("receive_count") or 0)
            n += 1
    return n
