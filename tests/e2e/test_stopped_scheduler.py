"""A stopped scheduler on the local stack: ``academy up --disable-schedule daily_task_instances`` (as if its
EventBridge rule were disabled) runs everything else; the watchdog, run against that stack with its clock
advanced past the expected run plus the grace period, opens one incident and emits one
``monitor.missed_run`` per missed occurrence — and running it again adds nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from academy_cli.spawn import SpawnedStack, StackStartError, start_stack

pytestmark = pytest.mark.e2e

WATCHDOG_RUNS = """
import json
from datetime import datetime, timedelta

from chalicelib.alerts import signals
from chalicelib.monitors import service

start = datetime.fromisoformat({start!r})
seen_all = []
for minutes in {minutes!r}:  # watchdog runs, the clock advanced to each
    service.use_clock(lambda m=minutes: start + timedelta(minutes=m))
    with signals.recording() as seen:
        service.watchdog()
    seen_all += [[s.kind, s.subject, s.occurrence] for s in seen if s.kind.startswith("monitor.")]
print(json.dumps(seen_all))
"""


def run_watchdog(stack: SpawnedStack, start: str, minutes: list[int]) -> list[list[str]]:
    prelude = f"from academy_cli.localenv import attach\nattach({stack.port})\n"
    code = prelude + textwrap.dedent(WATCHDOG_RUNS.format(start=start, minutes=minutes))
    done = subprocess.run([sys.executable, "-c", code], env=stack.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out: list[list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.skipif(
    bool(os.environ.get("ACADEMY_REHEARSE_PACKAGE")),
    reason="a rehearsal runs the schedule rules as deployed (--disable-schedule is the local stack's)",
)
def test_a_disabled_task_schedule_is_reported_missed_once_per_occurrence(tmp_path: Path) -> None:
    try:
        stack = start_stack(tmp_path, extra_args=("--disable-schedule", "daily_task_instances"))
    except StackStartError as exc:
        pytest.fail(str(exc))
    try:
        if stack.rehearsal:
            pytest.skip("a rehearsal runs the schedule rules as deployed (--disable-schedule is the local stack's)")
        assert any("schedule daily_task_instances is disabled" in line for line in stack.lines), stack.output()
        assert "daily_task_instances cron(0 * * * ? *) (disabled)" in stack.output()
        # the real clock: the stack's own watchdog (every 5 min) may have looked already, and agrees
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        h1 = (now + timedelta(hours=1)).replace(minute=0)  # the first expected run
        m = int((h1 - now).total_seconds() // 60)
        # first look, inside the grace (h1 + 14 min), past it (h1 + 16), twice more, then past h2's grace
        seen = run_watchdog(stack, now.isoformat(), [0, m + 14, m + 16, m + 20, m + 25])
        assert seen == [["monitor.missed_run", "daily_task_instances", h1.strftime("%Y-%m-%dT%H:%M:%S.000Z")]]
        again = run_watchdog(stack, now.isoformat(), [m + 25, m + 30, m + 76])  # another watchdog process
        h2 = h1 + timedelta(hours=1)
        assert again == [["monitor.missed_run", "daily_task_instances", h2.strftime("%Y-%m-%dT%H:%M:%S.000Z")]]
        h = stack.auth("admin")
        groups = requests.get(f"{stack.url}/admin/incidents?area=backend.monitors.daily_task_instances", headers=h, timeout=10)
        assert groups.status_code == 200 and sum(g["count"] for g in groups.json()["items"]) == 2
        monitors = requests.get(f"{stack.url}/admin/monitors", headers=h, timeout=10).json()["items"]
        daily = {m["name"]: m for m in monitors}["daily_task_instances"]
        assert daily["runs"] == 0  # the disabled schedule never ran
    finally:
        stack.stop()
