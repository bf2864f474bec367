"""Local data that survives a restart of ``academy up``: dump on clean stop, restore on start.

A snapshot is a directory::

    <data-dir>/snapshot/
      meta.json                      stage, time, counts
      dynamodb/<table>.jsonl         one item per line (DynamoDB JSON; binary as {"$b64": ...})
      s3/manifest.json + s3/objects/ every object of the media bucket, with content type and metadata
      sqs/<queue>.json               every message still in a queue (in flight or delayed too)

It is written next to the live one and swapped in with renames, so a crash while dumping leaves the
previous snapshot intact. DynamoDB is read with Scan here on purpose: this is a development backup,
never an API path. SQS messages are read from moto's in-process backend, because the SQS API cannot
see messages that are in flight; their receive counts are restored, their visibility timers are not
(every restored message is visible at once).
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import boto3

log = logging.getLogger("academy.snapshot")

MOTO_ACCOUNT = "123456789012"


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


def dump(data_dir: Path, stage: str, bucket: str, region: str) -> dict[str, int]:
    """Write a snapshot of the stage's tables, bucket and queues; returns counts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    new, live, old = data_dir / "snapshot.new", data_dir / "snapshot", data_dir / "snapshot.old"
    shutil.rmtree(new, ignore_errors=True)
    (new / "dynamodb").mkdir(parents=True)
    (new / "s3" / "objects").mkdir(parents=True)
    (new / "sqs").mkdir(parents=True)
    prefix = f"academy-{stage}-"
    counts = {"items": 0, "objects": 0, "messages": 0}

    ddb = boto3.client("dynamodb", region_name=region)
    for table in _tables(ddb, prefix):
        with (new / "dynamodb" / f"{table}.jsonl").open("w") as fh:
            for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                for item in page["Items"]:
                    fh.write(json.dumps(item, default=_encode) + "\n")
                    counts["items"] += 1

    s3 = boto3.client("s3", region_name=region)
    manifest = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            n = len(manifest)
            head = s3.head_object(Bucket=bucket, Key=obj["Key"])
            s3.download_file(bucket, obj["Key"], str(new / "s3" / "objects" / str(n)))
            manifest.append(
                {"key": obj["Key"], "file": str(n), "content_type": head.get("ContentType"), "metadata": head.get("Metadata", {})}
            )
    (new / "s3" / "manifest.json").write_text(json.dumps(manifest, indent=1))
    counts["objects"] = len(manifest)

    for name, messages in _sqs_messages(region, prefix).items():
        (new / "sqs" / f"{name}.json").write_text(json.dumps(messages, default=_encode))
        counts["messages"] += len(messages)

    (new / "meta.json").write_text(json.dumps({"stage": stage, "dumped_at": time.time(), **counts}))
    shutil.rmtree(old, ignore_errors=True)
    if live.exists():
        live.rename(old)
    new.rename(live)
    shutil.rmtree(old, ignore_errors=True)
    return counts


def _sqs_messages(region: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every message of the stage's queues, from moto's in-process backend (visible or not)."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[MOTO_ACCOUNT][region]
    out: dict[str, list[dict[str, Any]]] = {}
    for name, queue in backend.queues.items():
        if not name.startswith(prefix):
            continue
        with queue._messages_lock:
            out[name] = [
                {"body": m.body, "attributes": m.message_attributes, "receive_count": m.approximate_receive_count}
                for m in queue._messages
            ]
    return out


def snapshot_dir(data_dir: Path) -> Path | None:
    """The newest complete snapshot (``snapshot``, or ``snapshot.old`` if a swap was interrupted)."""
    for name in ("snapshot", "snapshot.old"):
        candidate = data_dir / name
        if (candidate / "meta.json").exists():
            return candidate
    return None


def restore(data_dir: Path, stage: str, bucket: str, region: str) -> dict[str, int] | None:
    """Load the snapshot into freshly deployed resources; ``None`` when there is nothing to load."""
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
    manifest_path = snap / "s3" / "manifest.json"
    for entry in json.loads(manifest_path.read_text()) if manifest_path.exists() else []:
        extra: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
        if entry.get("content_type"):
            extra["ContentType"] = entry["content_type"]
        s3.upload_file(str(snap / "s3" / "objects" / entry["file"]), bucket, entry["key"], ExtraArgs=extra)
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
