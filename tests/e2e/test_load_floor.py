"""The load's floor (academy_cli/load_floor.py): the same traffic against bare routes replaying the app's calls.

``make load`` compares our stack with it; this keeps the comparison honest on a short run: every
operation of the load reaches the floor and is answered from a recorded request of the same operation
(not a 404, not an error), and the app's own figures are untouched by it (the count-back still finds
every acknowledged write).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from pathlib import Path

import pytest

from academy_cli.load_floor import Recorder, Sample, operation
from academy_cli.spawn import free_port, start_stack
from loadtest.runner import Config, run_load

pytestmark = pytest.mark.e2e


def _run_async(coro):
    """asyncio.run in a fresh thread: Playwright's sync API may keep a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_operations_are_classified_by_method_and_path() -> None:
    assert operation("POST", "/incidents") == "incident"
    assert operation("PUT", "/admin/schedules/s1/attendance/2026-01-05/st1") == "attendance"
    assert operation("POST", "/admin/media/v1/optimise") == "optimise"
    assert operation("GET", "/admin/jobs?limit=20") == "list:jobs"
    # fixtures and the count-back are not load operations
    assert operation("POST", "/admin/students") is None
    assert operation("GET", "/admin/incidents?area=load.x&limit=100") is None
    assert operation("GET", "/incidents") is None


def test_the_recorder_keeps_a_bounded_sample_of_each_operation() -> None:
    rec = Recorder(keep=5)
    for i in range(50):
        taken = rec.begin("POST", "/incidents")
        if taken is not None:
            rec.call("dynamodb", "PutItem", {"i": i})
            rec.end(taken, 202)
    assert rec.seen["incident"] == 50 and len(rec.samples["incident"]) == 5
    assert all(isinstance(s, Sample) and s.status == 202 and len(s.calls) == 1 for s in rec.samples["incident"])
    assert any(s.calls[0][2]["i"] >= 5 for s in rec.samples["incident"])  # a reservoir over the run, not the first 5
    assert rec.begin("POST", "/admin/students") is None


@pytest.mark.skipif(bool(os.environ.get("ACADEMY_REHEARSE_PACKAGE")), reason="the floor is academy up's (not the rehearsal's)")
def test_a_short_run_reaches_the_floor_for_every_operation(tmp_path: Path) -> None:
    port = free_port()
    stack = start_stack(tmp_path, extra_args=("--load-floor-port", str(port)))
    try:
        mix = {"incident": 1, "attendance": 1, "list": 1, "optimise": 1}
        cfg = Config(url=stack.url, clients=8, duration_s=6, students=4, schedules=2, weeks=4, videos=2, seed=3, mix=mix)
        floor_url = f"http://127.0.0.1:{port}"
        report = _run_async(run_load(cfg, stack.mint, log=lambda _: None, floor_url=floor_url, rounds=2))
    finally:
        stack.stop()
    print(report.render())
    assert report.ok, report.render()
    assert report.floor is not None
    floor = {r["op"]: r["statuses"] for r in report.floor.rows()}
    assert {"incident", "attendance", "list", "optimise"} <= set(floor), floor
    assert all(code < 500 and code != 404 for statuses in floor.values() for code in statuses), floor
    assert {g["name"] for g in report.goals()} >= {"throughput, ours / floor's", "p99 / p50 (ours)"}
