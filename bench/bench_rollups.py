"""Rollups: what counting costs the incident intake and a job transition, and media's cost per video minute.

Same run, alternating rounds, rollups on vs off (off: the job rollup items and the intake's buffered
counts and capacity figures are switched off by patching their producers; everything else is the
same code). DynamoDB calls and items written are counted at the botocore level. The media rows run
one small clip through the real worker (ffmpeg) and read ``GET /admin/metrics/media``'s cost model.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from bench._common import deployed_aws, set_env

INTAKE_REQUESTS = 160  # per side
JOBS = 80  # job lifecycles (dispatch, start, finish: 3 transitions) per side
ROUND = 20


class Writes:
    """DynamoDB calls and items written (a transaction's items each count) per side while active."""

    def __init__(self) -> None:
        self.side = "on"
        self.calls: dict[str, int] = {"on": 0, "off": 0}
        self.items: dict[str, int] = {"on": 0, "off": 0}

    def __enter__(self) -> Writes:
        from botocore.client import BaseClient

        self._orig = BaseClient._make_api_call
        me = self

        def counted(client: Any, operation: str, params: Any) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                me.calls[me.side] += 1
                if operation == "TransactWriteItems":
                    me.items[me.side] += len(params.get("TransactItems") or [])
                elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
                    me.items[me.side] += 1
                elif operation == "BatchWriteItem":
                    me.items[me.side] += sum(len(v) for v in params.get("RequestItems", {}).values())
            return me._orig(client, operation, params)

        BaseClient._make_api_call = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._orig  # type: ignore[method-assign]


@contextmanager
def rollups_off() -> Iterator[None]:
    from chalicelib.core import rollups
    from chalicelib.jobs import rollups as job_rollups
    from chalicelib.metrics import service

    with (
        mock.patch.object(job_rollups, "items", lambda *a, **k: []),
        mock.patch.object(service, "count_incident", lambda *a, **k: None),
        mock.patch.object(rollups, "count_capacity", lambda *a, **k: None),
    ):
        yield


def _alternate(run_one: Callable[[int], None], n: int, writes: Writes) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"on": [], "off": []}
    for start in range(0, n, ROUND):
        for side in ("off", "on"):
            writes.side = side
            for i in range(start, min(n, start + ROUND)):
                t = time.perf_counter()
                if side == "off":
                    with rollups_off():
                        run_one(i + 100_000)  # its own identities and groups' rate windows
                else:
                    run_one(i)
                samples[side].append(time.perf_counter() - t)
    return samples


def _intake(client: Any) -> Callable[[int], None]:
    from chalicelib.core.auth import mint_dev_token

    def one(i: int) -> None:
        token = mint_dev_token("customer", f"bench-{i // 10}")
        body = {
            "area": f"customers.homework.upload{i % 20}",
            "message": "The upload failed.",
            "location": "/x",
            "http_status": 503,
        }
        r = client.http.post(
            "/incidents", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, body=json.dumps(body)
        )
        if r.status_code != 202:
            raise RuntimeError(f"intake answered {r.status_code}: {r.body[:200]!r}")

    return one


def _lifecycle(i: int) -> None:
    from chalicelib.jobs import ledger
    from chalicelib.jobs.dispatch import dispatch

    job, _ = dispatch("noop", {"i": i})
    claimed = ledger.start_run(job.job_id, stale_after_s=60)
    if claimed is None or not ledger.finish(job.job_id, claimed[1], {"ok": True}):
        raise RuntimeError("the lifecycle did not complete")


def _rows_for(what: str, samples: dict[str, list[float]], writes: Writes, per: int, unit_calls: str) -> list[dict[str, Any]]:
    on, off = statistics.median(samples["on"]), statistics.median(samples["off"])
    n_on, n_off = len(samples["on"]) * per, len(samples["off"]) * per
    return [
        {
            "name": f"rollups: {what}, time with vs without (median)",
            "value": on * 1000,
            "unit": "ms",
            "baseline": off * 1000,
            "ratio": on / off,
            "goal": 1.1,
        },
        {
            "name": f"rollups: {what}, DynamoDB calls per {unit_calls}",
            "value": round(writes.calls["on"] / n_on, 2),
            "unit": "calls",
            "baseline": round(writes.calls["off"] / n_off, 2),
        },
        {
            "name": f"rollups: {what}, extra items written per {unit_calls}",
            "value": round((writes.items["on"] - writes.items["off"] * len(samples["on"]) / len(samples["off"])) / n_on, 2),
            "unit": "items",
        },
    ]


def _media_rows(client: Any, admin: dict[str, str]) -> list[dict[str, Any]]:
    import tempfile

    from tests.media_support import make_clip, run_media_queue, upload_file_to

    work = Path(tempfile.mkdtemp(prefix="bench-rollups-"))
    clip = make_clip(work / "c.mp4", 1280, 720, seconds=20, rate=15)
    r = client.http.post("/admin/students", headers=admin, body=json.dumps({"customer_id": "cust-a", "name": "Ada"}))
    student = json.loads(r.body)["id"]
    from chalicelib.core.auth import mint_dev_token

    cust = {"Authorization": f"Bearer {mint_dev_token('customer', 'cust-a')}", "Content-Type": "application/json"}
    body = {"student_id": student, "filename": "p.mp4", "content_type": "video/mp4", "size_bytes": clip.stat().st_size}
    up = json.loads(client.http.post("/customer/videos", headers=cust, body=json.dumps(body)).body)
    upload_file_to(up["upload"]["fields"]["key"], clip, "video/mp4")
    client.http.post(f"/customer/videos/{up['video']['id']}/complete", headers=cust)
    run_media_queue()
    clip.unlink()
    out = json.loads(client.http.get("/admin/metrics/media?step=hour", headers=admin).body)
    cost = out["cost"]
    minutes = sum(d["video_minutes"] for d in cost["per_day"])
    return [
        {
            "name": f"media: Lambda GB-s per video minute (720p, 512 MB; prices {cost['prices_as_of']})",
            "value": cost["gb_seconds_per_video_minute"],
            "unit": "GB-s",
        },
        {
            "name": "media: Lambda $ per video minute vs MediaConvert basic HD",
            "value": cost["lambda_usd_per_video_minute"],
            "unit": "$",
            "baseline": cost["mediaconvert_usd_per_video_minute"],
            "ratio": cost["lambda_usd_per_video_minute"] / cost["mediaconvert_usd_per_video_minute"],
        },
        {"name": "media: video minutes processed in the run", "value": round(minutes, 3), "unit": "min"},
    ]


def run() -> list[dict]:
    import os

    os.environ.setdefault("ACADEMY_BUCKET", "academy-bench-media-123456789012")  # as bench_media: the stack's bucket
    set_env(log_level="ERROR")
    with deployed_aws():
        from chalice.test import Client

        from app import app
        from chalicelib.core.auth import mint_dev_token

        admin = {"Authorization": f"Bearer {mint_dev_token('admin', 'bench')}", "Content-Type": "application/json"}
        rows: list[dict[str, Any]] = []
        with Client(app) as client, Writes() as writes:
            for warm in range(5):
                _intake(client)(10_000 + warm)
                _lifecycle(warm)
            writes.calls, writes.items = {"on": 0, "off": 0}, {"on": 0, "off": 0}
            samples = _alternate(_intake(client), INTAKE_REQUESTS, writes)
            rows += _rows_for("incident intake (POST /incidents)", samples, writes, 1, "intake")
            writes.calls, writes.items = {"on": 0, "off": 0}, {"on": 0, "off": 0}
            samples = _alternate(_lifecycle, JOBS, writes)
            rows += _rows_for("job lifecycle (3 transitions)", samples, writes, 3, "transition")
        with Client(app) as client:
            rows += _media_rows(client, admin)
        return rows
