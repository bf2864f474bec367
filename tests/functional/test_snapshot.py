"""The local stack's snapshot (academy_cli.snapshot, over emulation.state): a faithful dump, crash-safe writes,
a cheap change signal.

Each test builds its own small set of resources in moto (prefix ``academy-snap-``), not the app's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from academy_cli import snapshot
from emulation import install_write_counter
from emulation.state import queue_contents

STAGE = "snap"
TABLE = "academy-snap-things"
BUCKET = "academy-snap-bucket"
QUEUE = "academy-snap-queue"
REGION = "us-east-1"

ITEMS = [
    {
        "pk": {"S": "a"},
        "sk": {"N": "1"},
        "bin": {"B": b"\x00\x01binary\xff"},
        "bs": {"BS": [b"one", b"\x02two"]},
        "ns": {"NS": ["1", "2.5"]},
        "m": {"M": {"inner": {"B": b"\xfe"}, "l": {"L": [{"S": "x"}, {"B": b"y"}, {"NULL": True}, {"BOOL": False}]}}},
    },
    {"pk": {"S": "a"}, "sk": {"N": "2"}, "s": {"S": "plain"}},
    {"pk": {"S": "b"}, "sk": {"N": "1"}, "ss": {"SS": ["p", "q"]}},
]


def create_resources() -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    boto3.client("sqs", region_name=REGION).create_queue(QueueName=QUEUE)


def populate() -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    for item in ITEMS:
        ddb.put_item(TableName=TABLE, Item=item)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="media/one.txt", Body=b"first object", ContentType="text/plain", Metadata={"owner": "ada"})
    s3.put_object(Bucket=BUCKET, Key="media/two.bin", Body=os.urandom(300_000))
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m1", MessageAttributes={"kind": {"DataType": "String", "StringValue": "k"}})
    sqs.send_message(QueueUrl=url, MessageBody="m2")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30)  # one in flight, received once


def scan_all() -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    return ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]


def bucket_state() -> dict[str, tuple[bytes, str, dict[str, str]]]:
    s3 = boto3.client("s3", region_name=REGION)
    out = {}
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        got = s3.get_object(Bucket=BUCKET, Key=obj["Key"])
        out[obj["Key"]] = (got["Body"].read(), got["ContentType"], got["Metadata"])
    return out


def queue_state() -> list[tuple[str, int]]:
    return queue_contents(REGION, QUEUE)


def canonical(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(i, default=snapshot._encode, sort_keys=True) for i in items)


@pytest.fixture
def source(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Populated resources; yields what the API reads back, for comparison after a restore."""
    with mock_aws():
        create_resources()
        populate()
        yield {"items": scan_all(), "objects": bucket_state(), "messages": queue_state()}


def restored_state(data_dir: Path) -> dict[str, Any]:
    """Replace the resources with empty ones, restore ``data_dir`` into them and read everything back."""
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=TABLE)
    s3 = boto3.client("s3", region_name=REGION)
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    s3.delete_bucket(Bucket=BUCKET)
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"])
    create_resources()
    assert scan_all() == [] and bucket_state() == {} and queue_state() == []
    counts = snapshot.restore(data_dir, STAGE, BUCKET, REGION)
    assert counts is not None
    return {"items": scan_all(), "objects": bucket_state(), "messages": queue_state()}


def test_dump_is_what_a_scan_returns_and_restores_faithfully(source: dict[str, Any], tmp_path: Path) -> None:
    counts = snapshot.dump(tmp_path, STAGE, BUCKET, REGION)
    assert (counts["items"], counts["objects"], counts["messages"]) == (3, 2, 2)
    lines = (tmp_path / "snapshot" / "dynamodb" / f"{TABLE}.jsonl").read_text().splitlines()
    assert canonical([json.loads(x, object_hook=snapshot._decode) for x in lines]) == canonical(source["items"])
    again = restored_state(tmp_path)
    assert canonical(again["items"]) == canonical(source["items"])
    assert again["objects"] == source["objects"]
    assert again["messages"] == source["messages"] == [("m1", 1), ("m2", 0)]


def test_unchanged_objects_are_linked_not_copied(source: dict[str, Any], tmp_path: Path) -> None:
    first = snapshot.dump(tmp_path, STAGE, BUCKET, REGION)
    assert (first["objects_copied"], first["bytes_copied"]) == (2, 12 + 300_000)
    inodes = {p.name: p.stat().st_ino for p in (tmp_path / "snapshot" / "s3" / "objects").iterdir()}

    second = snapshot.dump(tmp_path, STAGE, BUCKET, REGION)
    assert (second["objects"], second["objects_copied"], second["bytes_copied"]) == (2, 0, 0)
    assert {p.name: p.stat().st_ino for p in (tmp_path / "snapshot" / "s3" / "objects").iterdir()} == inodes

    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="media/one.txt", Body=b"changed")
    third = snapshot.dump(tmp_path, STAGE, BUCKET, REGION)
    assert (third["objects_copied"], third["bytes_copied"]) == (1, 7)
    assert restored_state(tmp_path)["objects"]["media/one.txt"][0] == b"changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot"]


def test_a_failure_mid_dump_leaves_the_previous_snapshot_intact(source: dict[str, Any], tmp_path: Path) -> None:
    snapshot.dump(tmp_path, STAGE, BUCKET, REGION)
    before = (tmp_path / "snapshot" / "meta.json").read_text()
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=TABLE, Item={"pk": {"S": "new"}, "sk": {"N": "9"}})

    def crash_on_manifest(path: Path, chunks: Any) -> None:
        if path.name == "manifest.json":
            raise OSError("disk full (simulated)")
        snapshot.write_synced(path, chunks)

    with pytest.raises(OSError, match="simulated"):
        snapshot.dump(tmp_path, STAGE, BUCKET, REGION, write_file=crash_on_manifest)
    assert (tmp_path / "snapshot.new" / "dynamodb" / f"{TABLE}.jsonl").exists()  # it got that far
    assert snapshot.snapshot_dir(tmp_path) == tmp_path / "snapshot"
    assert (tmp_path / "snapshot" / "meta.json").read_text() == before
    assert canonical(restored_state(tmp_path)["items"]) == canonical(source["items"])  # the previous data, whole

    assert snapshot.dump(tmp_path, STAGE, BUCKET, REGION)["items"] == 3  # what was just restored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot"]


@pytest.mark.parametrize("failing", ["snapshot", "snapshot.new"])  # snapshot → .old, then .new → snapshot
def test_an_interrupted_swap_keeps_the_newest_complete_snapshot(
    failing: str, source: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot.dump(tmp_path, STAGE, BUCKET, REGION)
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=TABLE, Item={"pk": {"S": "new"}, "sk": {"N": "9"}})
    real_rename = Path.rename

    def crash_at_rename(self: Path, target: Any) -> Any:
        if self.name == failing:
            raise OSError("killed at a rename (simulated)")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_at_rename)
    with pytest.raises(OSError, match="simulated"):
        snapshot.dump(tmp_path, STAGE, BUCKET, REGION)
    monkeypatch.setattr(Path, "rename", real_rename)
    assert (tmp_path / "snapshot").exists() == (failing == "snapshot")
    assert snapshot.snapshot_dir(tmp_path) == tmp_path / "snapshot.new"  # complete, and newer than the other
    assert len(restored_state(tmp_path)["items"]) == 4

    assert snapshot.dump(tmp_path, STAGE, BUCKET, REGION)["items"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot"]


KILLED_DUMP = """
import os, sys, time
from pathlib import Path
import boto3
from moto import mock_aws
from academy_cli import snapshot
sys.path.insert(0, {tests!r})
from test_snapshot import create_resources, populate, TABLE, STAGE, BUCKET, REGION

data = Path({data!r})
with mock_aws():
    create_resources()
    populate()
    snapshot.dump(data, STAGE, BUCKET, REGION)
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=TABLE, Item={{"pk": {{"S": "late"}}, "sk": {{"N": "1"}}}})

    def slow_write(path, chunks):
        snapshot.write_synced(path, chunks)
        print("wrote", path.name, flush=True)
        time.sleep(0.5)

    snapshot.dump(data, STAGE, BUCKET, REGION, write_file=slow_write)
    print("finished", flush=True)
"""


def test_kill_9_during_a_dump_leaves_a_restorable_snapshot(source: dict[str, Any], tmp_path: Path) -> None:
    data = tmp_path / "data"
    script = KILLED_DUMP.format(tests=str(Path(__file__).parent), data=str(data))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # the second dump has written its table file and is on to the next ones
        seen.append(line.strip())
        if line.startswith("wrote"):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert seen and seen[-1].startswith("wrote") and "finished" not in seen, seen
    assert (data / "snapshot.new").exists() and not (data / "snapshot.new" / "meta.json").exists()
    assert snapshot.snapshot_dir(data) == data / "snapshot"
    again = restored_state(data)
    assert canonical(again["items"]) == canonical(source["items"])  # the first dump, whole; not the late item
    assert again["objects"].keys() == source["objects"].keys()


def test_change_tracker_sees_writes_not_reads(source: dict[str, Any]) -> None:
    install_write_counter()
    tracker = snapshot.ChangeTracker(REGION, STAGE)
    tracker.mark_saved(tracker.current())
    ddb = boto3.client("dynamodb", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]

    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    ddb.scan(TableName=TABLE)
    ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
    s3.list_objects_v2(Bucket=BUCKET)
    s3.get_object(Bucket=BUCKET, Key="media/one.txt")["Body"].read()
    s3.head_object(Bucket=BUCKET, Key="media/one.txt")
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)  # m2 visible? take it, then check the empty poll below
    tracker.mark_saved(tracker.current())
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None  # an empty poll
    assert not tracker.changed(tracker.current())

    for write in (
        lambda: ddb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "a"}, "sk": {"N": "2"}},
            UpdateExpression="SET s = :v",
            ExpressionAttributeValues={":v": {"S": "x"}},
        ),
        lambda: ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "b"}, "sk": {"N": "1"}}),
        lambda: s3.put_object(Bucket=BUCKET, Key="media/three", Body=b"3"),
        lambda: s3.delete_object(Bucket=BUCKET, Key="media/three"),
        lambda: sqs.send_message(QueueUrl=url, MessageBody="m3"),
    ):
        write()
        assert tracker.changed(tracker.current())
        tracker.mark_saved(tracker.current())
    assert not tracker.changed(tracker.current())
