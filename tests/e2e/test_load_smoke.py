"""The load runner (``make load``) on a short, small run against the session stack, and its count-back.

The full run (50 clients, 60 s) is ``make load``; this keeps the tool honest in ``make test``: a few
seconds of every kind of traffic, zero 5xx, every acknowledged write found again, and a write the
server never saw reported as lost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from academy_cli.client import AsyncApiClient
from academy_cli.spawn import SpawnedStack
from loadtest.runner import Config, Fixtures, Ledger, count_back, run_load

pytestmark = pytest.mark.e2e


def _run_async(coro):
    """asyncio.run in a fresh thread: Playwright's sync API may keep a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_short_mixed_load_has_no_5xx_and_loses_no_write(live_stack: SpawnedStack) -> None:
    # Equal weights and seed 3: the 8 clients' first picks already cover all four operations.
    mix = {"incident": 1, "attendance": 1, "list": 1, "optimise": 1}
    cfg = Config(url=live_stack.url, clients=8, duration_s=4, students=4, schedules=2, weeks=4, videos=2, seed=3, mix=mix)
    report = _run_async(run_load(cfg, live_stack.mint, log=lambda _: None))  # dev or pool tokens
    print(report.render())
    assert report.ok, report.render()
    ops = {r["op"] for r in report.rows()}
    assert {"incident", "attendance", "list", "optimise"} <= ops, ops
    assert report.verified.get("incidents", 0) > 0 and report.verified.get("attendance", 0) > 0


def test_count_back_reports_a_write_the_server_never_saw(live_stack: SpawnedStack) -> None:
    async def run() -> dict[str, list[str]]:
        async with AsyncApiClient(live_stack.url, live_stack.token("admin"), timeout_s=30) as api:
            ledger = Ledger()
            ledger.incidents["load.never.sent"].append(("01J0000000000000000NOTSENT0", True))
            ledger.jobs["01J0000000000000000NOJOB000"] = "some-video"
            lost, _ = await count_back(api, Fixtures(run="x", customer_id="x"), ledger)
            return lost

    lost = _run_async(run())
    assert len(lost["incidents"]) == 2 and len(lost["jobs"]) == 1, lost


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="only target this machine"):
        Config(url="http://10.0.0.5:8000")
