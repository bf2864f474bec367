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

The dump reads moto's in-process backends, not the API, through :mod:`emulation.state` (the one place
that touches moto's internals): one cut is taken while holding the lock that serialises moto's
DynamoDB (:mod:`emulation.dynamodb`), so every table is read at the same point
between two DynamoDB operations, and the queues' messages and the bucket's object list are taken under
that same lock right after. What is not a single point in time: SQS and S3 requests do not take that
lock, so a message or object written by a concurrent S3/SQS request can land on either side of the cut
(a few milliseconds of skew); an object's bytes are copied after the cut, and an object overwritten or
deleted before its bytes are copied is saved in its newer state (or left out). SQS receive counts are
restored, visibility timers are not (every restored message is visible at once). The price of the cut:
DynamoDB calls wait while it copies the items (measured ~0.3-0.5 s per 20,000 small items).

:class:`ChangeTracker` answers "has anything changed since the last save?" cheaply, from
:mod:`emulation.changes` (moto's DynamoDB and S3 backends count their mutating calls once
:func:`emulation.install_write_counter` is installed; SQS state is fingerprinted).

``dump(..., write_file=...)`` is the seam the crash-safety tests use to fail or slow a file write.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from emulation.state import StoredObject

log = logging.getLogger("academy.snapshot")

COPY_CHUNK = 1 << 20
SINGLE_PUT_MAX = 5 * 1024**3  # restore with one PUT per object (S3's limit), so ETags stay plain MD5s and match

WriteFile = Callable[[Path, Iterable[str]], None]
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


@dataclass
class ChangeTracker:
    """Compares the emulator's state token with the one recorded at the last save (or restore)."""

    region: str
    stage: str
    saved: tuple[int, int] | None = None

    def current(self) -> tuple[int, int]:
        """Read before dumping: a change made during the dump shows up as a difference next time."""
        from emulation import sqs_fingerprint, writes_seen

        return writes_seen(), sqs_fingerprint(self.region, f"academy-{self.stage}-")

    def mark_saved(self, token: tuple[int, int]) -> None:
        self.saved = token

    def changed(self, token: tuple[int, int]) -> bool:
        return token != self.saved


# --- dump -------------------------------------------------------------------------------------


def dump(data_dir: Path, stage: str, bucket: str, region: str, *, write_file: WriteFile | None = None) -> dict[str, int]:
    """Write a snapshot of the stage's tables, bucket and queues, crash-safely; returns counts.

    Counts: ``items``, ``objects``, ``messages``, and ``objects_copied``/``bytes_copied`` (objects
    not already in the previous snapshot with the same ETag and size; the rest are hard-linked).
    ``write_file`` writes (and fsyncs) each file but the objects (default :func:`write_synced`).
    """
    with _DUMP_LOCK:
        return _dump(data_dir, stage, bucket, region, write_file or write_synced)


def _dump(data_dir: Path, stage: str, bucket: str, region: str, write: WriteFile) -> dict[str, int]:
    data_dir.mkdir(parents=True, exist_ok=True)
    _settle(data_dir)
    live, new = data_dir / "snapshot", data_dir / "snapshot.new"
    reusable = _reusable_objects(live)
    shutil.rmtree(new, ignore_errors=True)
    for sub in ("dynamodb", "s3/objects", "sqs"):
        (new / sub).mkdir(parents=True)

    from emulation.state import take_cut

    cut = take_cut(f"academy-{stage}-", bucket, region)
    counts = {"items": 0, "objects": 0, "messages": 0, "objects_copied": 0, "bytes_copied": 0}
    for table, items in cut.items.items():
        write(new / "dynamodb" / f"{table}.jsonl", (json.dumps(item, default=_encode) + "\n" for item in items))
        counts["items"] += len(items)

    manifest: list[dict[str, Any]] = []
    for obj in cut.objects:
        dest = new / "s3" / "objects" / str(len(manifest))
        source = reusable.get((obj.etag, obj.size))
        if source is None or not _link_or_copy(source, dest):
            saved = _copy_object(obj, dest, bucket, region)
            if saved is None:  # deleted after the cut, before its bytes were copied
                continue
            obj = saved
            counts["objects_copied"] += 1
            counts["bytes_copied"] += obj.size
        manifest.append(
            {
                "key": obj.key,
                "file": dest.name,
                "content_type": obj.content_type,
                "metadata": obj.metadata,
                "etag": obj.etag,
                "size": obj.size,
            }
        )
    write(new / "s3" / "manifest.json", [json.dumps(manifest, indent=1)])
    counts["objects"] = len(manifest)

    for name, messages in cut.messages.items():
        write(new / "sqs" / f"{name}.json", [json.dumps(messages, default=_encode)])
        counts["messages"] += len(messages)

    for sub in ("dynamodb", "s3/objects", "s3", "sqs"):
        _fsync_dir(new / sub)
    write(new / "meta.json", [json.dumps({"stage": stage, "dumped_at": time.time(), **counts})])
    _fsync_dir(new)
    _swap(data_dir)
    return counts


def _copy_object(obj: StoredObject, dest: Path, bucket: str, region: str) -> StoredObject | None:
    """Stream one object's bytes to ``dest`` (fsynced); if it was replaced meanwhile, its newer version."""
    from emulation.state import ObjectReplaced, copy_object, current_object

    current: StoredObject | None = obj
    for _ in range(5):
        assert current is not None
        try:
            with dest.open("wb") as fh:
                copied = copy_object(current, fh, COPY_CHUNK)
                fh.flush()
                os.fsync(fh.fileno())
            return copied
        except ObjectReplaced:  # overwritten or deleted
            current = current_object(bucket, region, obj.key)
            if current is None:
                dest.unlink(missing_ok=True)
                return None
    raise RuntimeError(f"s3://{bucket}/{obj.key} kept changing while it was being saved")


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


def write_synced(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to ``path`` and fsync it (what a dump writes every file but the objects with)."""
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
    from emulation.state import put_message, queue_names

    queues = queue_names(region)
    n = 0
    for path in sorted(sqs_dir.glob("*.json")):
        if path.stem not in queues:
            continue
        for m in json.loads(path.read_text(), object_hook=_decode):
            put_message(region, path.stem, m["body"], m.get("attributes"), int(m.get("receive_count") or 0))
            n += 1
    return n
